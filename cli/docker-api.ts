import type { DockerTlsOutput } from "../components/stack/outputs";
import { tlsJsonRequest } from "./tls-request";

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
export async function probeEngine(
  dockerHost: string,
  tls: DockerTlsOutput,
  timeoutMs: number,
): Promise<EngineProbe> {
  const url = `${dockerHost.replace(/^tcp:\/\//, "https://")}/info`;
  try {
    const answer = await tlsJsonRequest(
      url,
      { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem },
      { timeoutMs },
    );
    if (answer.status !== 200) {
      return { reachable: false, error: `HTTP ${answer.status} from /info` };
    }
    const info = answer.json as DockerInfo;
    return { reachable: true, serverVersion: info.ServerVersion, swarmRole: swarmRoleOf(info) };
  } catch (error) {
    return { reachable: false, error: (error as Error).message };
  }
}
