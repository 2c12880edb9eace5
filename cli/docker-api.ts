import * as https from "node:https";
import type { DockerTlsOutput } from "../components/stack/outputs";

/** What `GET /info` on a host's Docker API told us, or why it could not be asked. */
export interface EngineProbe {
  reachable: boolean;
  /** The engine's own version (ServerVersion). */
  serverVersion?: string;
  /** "manager", "worker", or undefined when the engine is in no swarm. */
  swarmRole?: "manager" | "worker";
  error?: string;
}

interface DockerInfo {
  ServerVersion?: string;
  Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean };
}

/** Pure: the swarm role `docker info` reports. */
export function swarmRoleOf(info: DockerInfo): EngineProbe["swarmRole"] {
  if (info.Swarm?.LocalNodeState !== "active") return undefined;
  return info.Swarm.ControlAvailable ? "manager" : "worker";
}

/**
 * Asks the engine at DOCKER_HOST (tcp://address:port) for `/info` over TLS with the client
 * certificate, verifying the server against the stack's CA. Never throws: an unreachable host is
 * a row of `ls`, not a failure.
 */
export function probeEngine(
  dockerHost: string,
  tls: DockerTlsOutput,
  timeoutMs: number,
): Promise<EngineProbe> {
  const url = new URL(dockerHost.replace(/^tcp:\/\//, "https://"));
  return new Promise((resolve) => {
    const request = https.get(
      {
        host: url.hostname,
        port: Number(url.port || 2376),
        path: "/info",
        ca: tls.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => {
          if (response.statusCode !== 200) {
            resolve({ reachable: false, error: `HTTP ${response.statusCode} from /info` });
            return;
          }
          try {
            const info = JSON.parse(body) as DockerInfo;
            resolve({
              reachable: true,
              serverVersion: info.ServerVersion,
              swarmRole: swarmRoleOf(info),
            });
          } catch {
            resolve({ reachable: false, error: "the Docker API answered /info with invalid JSON" });
          }
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", (error) => resolve({ reachable: false, error: error.message }));
  });
}
