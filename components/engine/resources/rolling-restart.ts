import type { SshClient } from "../../../provision/ssh/client";
import type { StepLog } from "../../../provision/dynamic/log";
import { pollUntil } from "../../../provision/dynamic/poll";
import { renderProgress } from "../../../provision/dynamic/progress";
import { withProcessLock } from "../../../provision/dynamic/process-lock";
import { LIST_SERVICES, servicesDownSince, servicesRunning } from "../swarm-services";

/** Docker restarts of a swarm's hosts (config changes, upgrades) take turns (one `up` is one environment). */
const ROLLING_LOCK = "docker:rolling-restart";

/**
 * Runs `run`, which may restart docker on the host (`restarted` says whether it did). On a swarm's
 * host, one such run at a time, and each waits until its node is back in the swarm and runs its
 * tasks again before the next host's turn: the managers keep quorum, the services keep running.
 * On a manager it also waits for every service that ran all its replicas before the restart to
 * run them again, wherever the swarm placed them meanwhile: else the next host's restart could
 * take down a service's last replica, or `up` end while replicas are still starting.
 */
export async function rollingOverSwarm<T>(
  client: SshClient,
  log: StepLog,
  run: () => Promise<T>,
  restarted: (result: T) => boolean,
): Promise<T> {
  const role = await swarmRoleOf(client);
  if (role === "none") return run();
  return withProcessLock(ROLLING_LOCK, async () => {
    const tasksBefore = await runningTaskCount(client);
    const servicesBefore = role === "manager" ? await runningServices(client) : [];
    const result = await run();
    if (restarted(result)) {
      await waitUntilBackInSwarm(client, role, log);
      await waitUntilTasksRunAgain(client, role, tasksBefore, log);
      await waitUntilServicesRunAgain(client, servicesBefore, log);
    }
    return result;
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
          renderProgress({
            what: "swarm tasks running again",
            done: seen.running,
            total: seen.wanted,
          }),
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

/** The swarm's services running all their replicas, as a manager lists them. */
async function runningServices(client: SshClient): Promise<string[]> {
  const result = await client.exec(LIST_SERVICES);
  return result.code === 0 ? servicesRunning(result.stdout) : [];
}

/** Waits until each service that ran all its replicas before the restart runs them again. */
async function waitUntilServicesRunAgain(
  client: SshClient,
  before: string[],
  log: StepLog,
): Promise<void> {
  if (before.length === 0) return;
  let down: string[] = [];
  const back = await pollUntil(
    async () => {
      const result = await client.exec(LIST_SERVICES);
      down =
        result.code === 0
          ? servicesDownSince(before, result.stdout)
          : [`(${LIST_SERVICES} failed)`];
      return down.length === 0 ? true : undefined;
    },
    {
      timeoutMs: SWARM_READY_TIMEOUT_MS,
      intervalMs: 1_000,
      onWait: () =>
        log.progress(`waiting for the swarm's services to run again: ${down.join(", ")}`),
    },
  );
  if (back === undefined) {
    throw new Error(
      `after restarting docker, these swarm services did not run all their replicas again within ` +
        `${SWARM_READY_TIMEOUT_MS / 1000} s: ${down.join(", ")} (see docker service ps); ` +
        "the other hosts are not restarted until they do",
    );
  }
}
