import * as https from "node:https";
import { planLocalHosts } from "../components/machines/local/run-args";
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
} from "../provision/pki";
import { DOCKER_TLS_PATHS, renderDaemonJson, renderDockerDropIn } from "../components/engine/plan";
import { DOCKER_DROP_IN_PATH } from "../components/engine/plan";
import { closeAllSshClients, generateSshKeyPair, getSshClient } from "../provision/ssh";
import { type BenchHostsArgs, createBenchNetwork, startBenchHost, waitUntil } from "./hosts";

/**
 * The naive baseline, the way a `docker-machine create` loop works: one host after another,
 * create it, wait for SSH, `apt-get update` and `apt-get install docker.io` with apt's default
 * recommends, then certificates, the TLS listener, a restart, and a check that the API answers.
 * Hosts are the same system containers the local driver makes (renderHostRunArgs, same image).
 */

export interface NaiveArgs extends BenchHostsArgs {
  /** Every remote command is ended after this long. */
  commandTimeoutMs: number;
  progress: (line: string) => void;
}

const TLS_PORT = 2376;

function getVersionOverTls(
  address: string,
  tls: { caPem: string; certPem: string; keyPem: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    https
      .get(
        `https://${address}:${TLS_PORT}/version`,
        { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 5_000 },
        (response) => {
          response.resume();
          if (response.statusCode === 200) resolve();
          else reject(new Error(`status ${response.statusCode}`));
        },
      )
      .on("error", reject)
      .on("timeout", () => reject(new Error("timeout")));
  });
}

/** Creates every host and installs Docker on each, strictly one after another. */
export async function runNaiveBaseline(args: NaiveArgs): Promise<void> {
  await createBenchNetwork(args.stack, args.subnet);
  const key = generateSshKeyPair(`bench-${args.stack}`);
  const ca = await createCertificateAuthority({ commonName: `bench ${args.stack} CA` });
  const client = await issueClientCertificate(ca, { commonName: "bench-client" });
  const planned = planLocalHosts({ count: args.hosts, namePrefix: "host", subnet: args.subnet });
  try {
    for (const host of planned) {
      const started = Date.now();
      const hostKey = await startBenchHost({
        stack: args.stack,
        image: args.image,
        host,
        publicKey: key.publicKey,
      });
      const ssh = await getSshClient(
        {
          host: host.ipv4Address,
          port: 22,
          user: "root",
          privateKey: key.privateKey,
          hostKey,
        },
        { deadlineMs: 120_000 },
      );
      const run = (command: string) =>
        ssh.execOrThrow(command, { timeoutMs: args.commandTimeoutMs });
      // What docker-machine's provisioner does on Debian, with apt's defaults.
      await run("DEBIAN_FRONTEND=noninteractive apt-get update -q");
      await run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io");
      const server = await issueServerCertificate(ca, {
        commonName: host.name,
        ipAddresses: [host.ipv4Address],
        dnsNames: [host.name],
      });
      await ssh.putContent(DOCKER_TLS_PATHS.caPath, ca.certPem, 0o644);
      await ssh.putContent(DOCKER_TLS_PATHS.certPath, server.certPem, 0o644);
      await ssh.putContent(DOCKER_TLS_PATHS.keyPath, server.keyPem, 0o600);
      await ssh.putContent(
        "/etc/docker/daemon.json",
        renderDaemonJson({ tls: DOCKER_TLS_PATHS, tlsPort: TLS_PORT }),
        0o644,
      );
      await ssh.putContent(DOCKER_DROP_IN_PATH, renderDockerDropIn("/usr/sbin/dockerd"), 0o644);
      await run("systemctl daemon-reload && systemctl restart docker.service");
      await waitUntil(`${host.name}'s Docker API over TLS`, 60_000, () =>
        getVersionOverTls(host.ipv4Address, { caPem: ca.certPem, ...client }),
      );
      args.progress(
        `naive: ${host.name} ready over TLS in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    await closeAllSshClients();
  }
}
