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
import { pollUntil } from "../../../provision/dynamic/poll";
import { withProcessLock } from "../../../provision/dynamic/process-lock";
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

/** A restarted node must be back in its swarm within this long before the next host restarts. */
const SWARM_READY_TIMEOUT_MS = 120_000;

/** The host's part in a swarm, from its own dockerd: none, worker or manager. */
async function swarmRoleOf(client: SshClient): Promise<"none" | "worker" | "manager"> {
  const result = await client.exec(
    "docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'",
  );
  const [state, control] = result.stdout.trim().split(" ");
  if (result.code !== 0 || state !== "active") return "none";
  return control === "true" ? "manager" : "worker";
}

/**
 * Waits until a restarted node is back in its swarm: a manager sees itself Ready through the
 * swarm's raft (which needs quorum), a worker is active again.
 */
async function waitUntilBackInSwarm(
  client: SshClient,
  role: "worker" | "manager",
  log: StepLog,
): Promise<void> {
  const check =
    role === "manager"
      ? "docker node inspect self --format '{{.Status.State}}'"
      : "docker info --format '{{.Swarm.LocalNodeState}}'";
  const wanted = role === "manager" ? "ready" : "active";
  // What the check last answered goes into the progress lines and the error: "down", or the
  // daemon's error while the node rejoins, says why the wait is long.
  let seen = "";
  const back = await pollUntil(
    async () => {
      const result = await client.exec(check);
      seen =
        `${result.stdout} ${result.stderr}`.replace(/\s+/g, " ").trim() || `exit ${result.code}`;
      return result.stdout.trim() === wanted ? true : undefined;
    },
    {
      timeoutMs: SWARM_READY_TIMEOUT_MS,
      intervalMs: 1_000,
      onWait: () =>
        log.progress(`waiting for this ${role} to be ${wanted} in the swarm again (now: ${seen})`),
    },
  );
  if (back === undefined) {
    throw new Error(
      `after restarting docker, this ${role} was not ${wanted} in the swarm within ` +
        `${SWARM_READY_TIMEOUT_MS / 1000} s (waiting for: ${check}; it last answered: ${seen}); ` +
        `the other hosts are not restarted until it is`,
    );
  }
  log.info(`${role} is ${wanted} in the swarm again`);
}

/** The swarm's task containers running on this host, as its own dockerd lists them. */
async function runningTaskCount(client: SshClient): Promise<number> {
  const result = await client.exec(
    "docker ps --quiet --filter label=com.docker.swarm.task.id | wc -l",
  );
  return Number(result.stdout.trim()) || 0;
}

/** `docker node ps self`: each task's desired and current state, "Running|Running 5 s ago". */
const NODE_TASKS = "docker node ps self --format '{{.DesiredState}}|{{.CurrentState}}'";

/**
 * Pure: whether a node runs what the swarm wants of it. `nodeTasks` is NODE_TASKS's output (a
 * manager's view, which may still call a task Running that died with the restart), `localRunning`
 * the task containers its dockerd runs. Tasks the swarm placed elsewhere meanwhile are no longer
 * wanted here, so they are not waited for.
 */
export function nodeRunsItsTasks(
  nodeTasks: string,
  localRunning: number,
): { done: boolean; running: number; wanted: number } {
  const wanted = nodeTasks
    .split("\n")
    .map((line) => line.split("|"))
    .filter(([desired]) => desired !== undefined && /^(Running|Ready|Accepted)$/.test(desired));
  const running = wanted.filter(([, current]) => current?.startsWith("Running")).length;
  return {
    done: running === wanted.length && localRunning >= running,
    running: Math.min(running, localRunning),
    wanted: wanted.length,
  };
}

/**
 * Waits until the host runs its swarm tasks again. A node is Ready again in seconds, but its tasks
 * come back only after their restart delay (5 s for the sample apps): had the next host restarted
 * then, every replica of a service could be down at once. A manager asks the swarm which tasks
 * belong here now; a worker cannot, so it waits for as many as before, and only warns when some
 * do not come back (the swarm may have placed them on another node).
 */
async function waitUntilTasksRunAgain(
  client: SshClient,
  role: "worker" | "manager",
  before: number,
  log: StepLog,
): Promise<void> {
  if (before === 0) return;
  let seen = { done: false, running: 0, wanted: before };
  const back = await pollUntil(
    async () => {
      const local = await runningTaskCount(client);
      seen =
        role === "manager"
          ? nodeRunsItsTasks((await client.exec(NODE_TASKS)).stdout, local)
          : { done: local >= before, running: local, wanted: before };
      return seen.done ? true : undefined;
    },
    {
      timeoutMs: role === "manager" ? SWARM_READY_TIMEOUT_MS : WORKER_TASKS_TIMEOUT_MS,
      intervalMs: 1_000,
      onWait: () =>
        log.progress(
          `waiting for this host's swarm tasks to run again (${seen.running}/${seen.wanted})`,
        ),
    },
  );
  if (back !== undefined) {
    log.info(`its swarm tasks run again (${seen.wanted})`);
  } else if (role === "worker") {
    log.warn(
      `this worker runs ${seen.running} of the ${before} swarm tasks it ran before its restart; ` +
        "the swarm may have placed the others on other nodes (see docker service ps)",
    );
  } else {
    throw new Error(
      `after restarting docker, this host ran ${seen.running} of the ${seen.wanted} swarm tasks ` +
        `the swarm gives it within ${SWARM_READY_TIMEOUT_MS / 1000} s (see docker node ps self); ` +
        "the other hosts are not restarted until they run",
    );
  }
}

/** A worker cannot ask the swarm where its tasks went: it waits this long, then goes on. */
const WORKER_TASKS_TIMEOUT_MS = 60_000;

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
    const role = await swarmRoleOf(client);
    const configure = async () => {
      const tasksBefore = role === "none" ? 0 : await runningTaskCount(client);
      const result = await stageAndRun(client, { ...inputs, daemonJson }, change, log);
      if (result.restarted === "1" && role !== "none") {
        await waitUntilBackInSwarm(client, role, log);
        await waitUntilTasksRunAgain(client, role, tasksBefore, log);
      }
      return result;
    };
    // Hosts of a swarm change one at a time, each back in the swarm before the next restarts, so
    // the managers keep quorum and the services keep running somewhere.
    const result =
      role === "none" ? await configure() : await withProcessLock(ROLLING_LOCK, configure);
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

/** One DockerConfig of a swarm's hosts restarts docker at a time (one `up` is one environment). */
const ROLLING_LOCK = "docker-config:rolling";

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
