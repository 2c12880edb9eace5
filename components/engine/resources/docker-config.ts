import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { remoteStepProvider } from "../../../provision/dynamic/remote-step-provider";
import {
  DOCKER_CONFIG_STAGING_DIR,
  DOCKER_DAEMON_JSON_PATH,
  DOCKER_DROP_IN_PATH,
  INSTALLED_PATH_OF_STAGED_FILE,
  mergeAdoptedDaemonJson,
  planDaemonJsonChange,
  planDockerConfigUploads,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { StepLog } from "../../../provision/dynamic/log";
import { rollingOverSwarm } from "./rolling-restart";
import { probeFiles } from "../../../provision/dynamic/host-facts";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  runRemoteStep,
  runScript,
  runUndoStep,
  uploadFiles,
} from "../../../provision/dynamic/remote-step";

interface DockerConfigInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** components/engine/scripts/apply-docker-config.sh */
  script: string;
  daemonJson: string;
  systemdDropIn: string;
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** dockerd's environment file (the proxy variables); absent without a proxy. */
  dockerdEnvironment?: string;
}

interface DockerConfigOutputs extends DockerConfigInputs {
  /**
   * The daemon.json the host had before dockfleet ("" for none), merged into every later up's
   * file: the record of the user's own keys. Left out by states from before adoption existed.
   */
  adoptedDaemonJson?: string;
}

/** Where apply-docker-config.sh keeps the host's own daemon.json, put back by REMOVE=1. */
const DAEMON_JSON_BEFORE_DOCKFLEET = "/etc/docker/daemon.json.before-dockfleet";

/**
 * The host's own daemon.json, read once when the step first runs: the installed file while
 * dockfleet's drop-in is not there (apply-docker-config.sh installs both together), else the copy
 * the script kept of it (a create after an up that configured the host but was not recorded).
 * A state from before adoption existed keeps "": its host has run dockfleet's file alone since,
 * and bringing back, say, an old data-root now would hide what ran there.
 */
async function adoptedDaemonJsonOf(
  client: SshClient,
  installed: string | undefined,
  olds: DockerConfigOutputs | undefined,
): Promise<string> {
  if (olds?.adoptedDaemonJson !== undefined) return olds.adoptedDaemonJson;
  if ((await client.getContent(DOCKER_DROP_IN_PATH)) === undefined) return installed ?? "";
  if (olds !== undefined) return "";
  return (await client.getContent(DAEMON_JSON_BEFORE_DOCKFLEET))?.toString() ?? "";
}

/** Inputs whose change is applied in place (daemon.json rewritten, Docker restarted). */
const UPDATE_KEYS = [
  "script",
  "daemonJson",
  "systemdDropIn",
  "caCertPem",
  "serverCertPem",
  "serverKeyPem",
  "dockerdEnvironment",
] as const;

/**
 * The installed files, whether Docker runs, and dockerd's listeners on the TCP ports of its
 * daemon.json (the TLS API). Only those ports: dockerd opens the swarm's later.
 */
function dockerConfigProbe(outs: DockerConfigInputs): string {
  const ports = tcpPortsOf(outs.daemonJson);
  const filter = ports.map((port) => `sport = :${port}`).join(" or ");
  return [
    // dockerd.env only with a proxy: the facts of a host without one read as before it existed.
    probeFiles(
      Object.fromEntries(
        Object.entries(INSTALLED_PATH_OF_STAGED_FILE).filter(
          ([name]) => name !== "dockerd.env" || outs.dockerdEnvironment !== undefined,
        ),
      ),
    ),
    `echo "docker=$(systemctl is-active docker)"`,
    ...(ports.length > 0
      ? [
          `echo "listening=$(ss -Hltnp '( ${filter} )' | awk '/"dockerd"/ { print $4 }' | ` +
            `sort | paste -sd, -)"`,
        ]
      : []),
  ].join("\n");
}

/** Pure: the TCP ports of daemon.json's "hosts" ("tcp://0.0.0.0:2376" gives 2376). */
export function tcpPortsOf(daemonJson: string): number[] {
  const hosts = (JSON.parse(daemonJson) as { hosts?: unknown }).hosts;
  if (!Array.isArray(hosts)) return [];
  return hosts.flatMap((host) => {
    const port = /^tcp:\/\/.*:(\d+)$/.exec(String(host))?.[1];
    return port === undefined ? [] : [Number(port)];
  });
}

async function apply(
  inputs: DockerConfigInputs,
  olds?: DockerConfigOutputs,
): Promise<DockerConfigOutputs> {
  return runRemoteStep(inputs, "configure docker", async (client, log) => {
    const installed = (await client.getContent(DOCKER_DAEMON_JSON_PATH))?.toString();
    const adoptedDaemonJson = await adoptedDaemonJsonOf(client, installed, olds);
    // Refused here, before anything is uploaded, when the host's file clashes with dockfleet's.
    const daemonJson = mergeAdoptedDaemonJson(
      inputs.daemonJson,
      adoptedDaemonJson,
      `${DOCKER_DAEMON_JSON_PATH} on ${inputs.host}`,
    );
    if (adoptedDaemonJson !== "" && olds?.adoptedDaemonJson === undefined) {
      log.info(`keeping the host's own daemon.json keys (merged with dockfleet's)`);
    }
    const change = planDaemonJsonChange(installed, daemonJson);
    const result = await rollingOverSwarm(
      client,
      log,
      () => stageAndRun(client, { ...inputs, daemonJson }, change, log),
      (applied) => applied.restarted === "1",
    );
    log.info(
      result.changed !== "1"
        ? "unchanged"
        : result.restarted === "1"
          ? "configuration applied, docker restarted"
          : "configuration applied, docker reloaded (no restart)",
    );
    return { ...inputs, adoptedDaemonJson };
  });
}

/** Uploads the files and runs apply-docker-config.sh; its result (changed, restarted). */
async function stageAndRun(
  client: SshClient,
  inputs: DockerConfigInputs,
  change: ReturnType<typeof planDaemonJsonChange>,
  log: StepLog,
): Promise<Record<string, string>> {
  const uploads = planDockerConfigUploads({
    daemonJson: inputs.daemonJson,
    dropIn: inputs.systemdDropIn,
    tls: {
      caPem: inputs.caCertPem,
      serverCertPem: inputs.serverCertPem,
      serverKeyPem: inputs.serverKeyPem,
    },
    dockerdEnvironment: inputs.dockerdEnvironment,
  });
  await uploadFiles(client, DOCKER_CONFIG_STAGING_DIR, uploads);
  const reload = change === "reload" ? "reload" : "restart";
  return runScript(client, inputs.script, { DAEMON_JSON_CHANGE: reload }, log);
}

export const dockerConfigProvider = remoteStepProvider<DockerConfigInputs, DockerConfigOutputs>({
  id: (inputs) => `${inputs.host}-docker-config`,
  updateKeys: UPDATE_KEYS,
  apply,
  probe: dockerConfigProbe,
  remove: async (props) => {
    await runUndoStep(props, "remove docker configuration", (client, log) =>
      runScript(client, props.script, { REMOVE: "1" }, log),
    );
  },
});

export type DockerConfigArgs = ResourceArgs<DockerConfigInputs>;

const dockerConfigSpec = {
  type: "DockerConfig",
  module: __filename,
  provider: "dockerConfigProvider",
  secrets: ["serverKeyPem", "dockerdEnvironment"],
};

/**
 * Docker's configuration on one host: daemon.json, the systemd drop-in and the TLS material of the
 * remote API. A change rewrites the files and restarts Docker; nothing is reinstalled.
 */
export class DockerConfig extends DynamicResource {
  constructor(name: string, args: DockerConfigArgs, opts?: pulumi.CustomResourceOptions) {
    super(dockerConfigSpec, name, args, opts);
  }
}
