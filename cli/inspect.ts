import type { Command } from "commander";
import type { HostOutput } from "../components/stack/outputs";
import type { EngineProbe } from "./docker-api";
import { type EtcdMembership, probeEtcdMember } from "./etcd-api";
import { type HostState, readHostState } from "./host-state";
import { earliestExpiry } from "./ls";
import { parseTimeout, printResult, withStackOptions, withTimeoutOption } from "./options";
import {
  defaultWorkDir,
  findHost,
  type NamedStackOutputs,
  readStackOutputs,
} from "./stack-outputs";

/** `dockfleet inspect <host>`: everything known about one host, in one JSON document. */
export interface HostInspection {
  name: string;
  stack: string;
  driver: string;
  state: HostState["state"];
  error: string | null;
  addresses: { address: string; privateAddress: string };
  ssh: { user: string; port: number; hostKey: string };
  docker: {
    url: string;
    reachable: boolean;
    /** The engine's own version when it answers, else null. */
    version: string | null;
    /** The version installed when the stack was last brought up. */
    installedVersion: string;
  };
  certificates: { use: string; notAfter: string; serialNumber: string }[];
  /** The first of the host's certificates to expire (ISO 8601), or null. */
  certificatesExpire: string | null;
  /** null when the stack has no swarm. */
  swarm: {
    role: string | null;
    nodeId: string | null;
    availability: string | null;
    liveRole: string | null;
  } | null;
  /** null when the stack has no etcd. */
  etcd: EtcdMembership | null;
}

/** Pure: the inspection from the stack's outputs and what the host answered. */
export function inspectHost(
  outputs: NamedStackOutputs,
  host: HostOutput,
  answers: { state: HostState; probe: EngineProbe | undefined; etcd: EtcdMembership | null },
): HostInspection {
  const node = outputs.swarmManager?.nodes.find((candidate) => candidate.name === host.name);
  return {
    name: host.name,
    stack: outputs.stack,
    driver: host.driver,
    state: answers.state.state,
    error: answers.state.error,
    addresses: { address: host.address, privateAddress: host.privateAddress },
    ssh: { user: host.sshUser, port: host.sshPort, hostKey: host.hostKey },
    docker: {
      url: host.dockerHost,
      reachable: answers.state.reachable,
      version: answers.probe?.serverVersion ?? null,
      installedVersion: host.dockerVersion,
    },
    certificates: host.certificates ?? [],
    certificatesExpire: earliestExpiry(host.certificates ?? []),
    swarm:
      outputs.swarmManager === undefined
        ? null
        : {
            role: node?.role ?? null,
            nodeId: node?.nodeId ?? null,
            availability: node?.availability ?? null,
            liveRole: answers.probe?.swarmRole ?? null,
          },
    etcd: answers.etcd,
  };
}

export function registerInspectCommand(program: Command): void {
  const command = program
    .command("inspect")
    .summary(
      "everything about a host as JSON: driver, addresses, engine, certificates, swarm, etcd",
    )
    .description(
      "print a host as JSON, like `docker-machine inspect`: driver, addresses, SSH login, state, " +
        "the engine's live version, its certificates and when they expire, its swarm role (as " +
        "planned and as the engine reports it) and its etcd membership and health",
    )
    .argument("<host>", "host name, as `dockfleet ls` lists it");
  withTimeoutOption(withStackOptions(command)).action(
    async (hostName: string, options: { stack: string; timeout: string }) => {
      const timeoutMs = parseTimeout(options.timeout);
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const host = findHost(outputs, hostName);
      const [{ state, probe }, etcd] = await Promise.all([
        readHostState(outputs, host, timeoutMs),
        outputs.etcd === undefined
          ? Promise.resolve(null)
          : probeEtcdMember(outputs.etcd, host.privateAddress, timeoutMs),
      ]);
      // JSON with or without --json: docker-machine's inspect prints JSON too.
      printResult(true, inspectHost(outputs, host, { state, probe, etcd }), "");
    },
  );
}
