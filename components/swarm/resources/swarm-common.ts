import {
  LOCAL_SWARM_STATE_COMMAND,
  parseLocalSwarmState,
  parseNodeInspect,
  renderDockerCommand,
  renderSwarmJoinRequest,
  SWARM_JOIN_COMMAND,
  type LocalSwarmState,
  type ObservedSwarmNode,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { StepLog } from "../../../provision/dynamic/log";
import { withProcessLock } from "../../../provision/dynamic/process-lock";
import { pollUntil } from "../../../provision/dynamic/poll";

/** What the swarm providers share: reading a host's swarm state, running docker, and one lock. */

/**
 * The host's part in the swarm as its own dockerd sees it (host-facts.ts): in a swarm or not, as
 * which node, and whether it is a manager. A node that left, rejoined or was demoted drifts.
 */
export const SWARM_MEMBER_PROBE =
  `echo "swarm=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}')"\n` +
  `echo "manager=$(docker info --format '{{.Swarm.ControlAvailable}}')"`;

export async function getLocalSwarmState(client: SshClient): Promise<LocalSwarmState> {
  const result = await client.execOrThrow(LOCAL_SWARM_STATE_COMMAND);
  return parseLocalSwarmState(result.stdout.trim());
}

/** The node as the swarm's managers see it; undefined when they do not list it. */
export async function inspectNode(
  manager: SshClient,
  nodeId: string,
): Promise<ObservedSwarmNode | undefined> {
  if (nodeId === "") return undefined;
  const result = await manager.exec(renderDockerCommand(["node", "inspect", nodeId]));
  if (result.code !== 0) {
    if (/no such node|not found/i.test(result.stderr)) return undefined;
    throw new Error(
      `docker node inspect ${nodeId} failed on ${manager.target} (exit ${result.code}): ` +
        result.stderr.trim().split("\n").slice(-3).join("\n"),
    );
  }
  return parseNodeInspect(result.stdout);
}

/** Errors a manager returns while raft changes leader or members: the same command works soon. */
const TRANSIENT_MANAGER_ERROR =
  /lost leader status|does not have a leader|leadership change|context deadline exceeded|rpc error: code = (Unavailable|DeadlineExceeded)/i;
const TRANSIENT_RETRY_MS = 30_000;

/**
 * Runs `docker ARGS` on the host, logging the command (argv never holds secrets), and runs it
 * again for up to 30 s while a manager reports a leader election or a raft membership change.
 */
export async function runDockerOn(
  client: SshClient,
  args: readonly string[],
  log: StepLog,
): Promise<string> {
  const command = renderDockerCommand(args);
  log.progress(command);
  let stderr = "";
  const done = await pollUntil(
    async () => {
      const result = await client.exec(command);
      stderr = result.stderr;
      return result.code === 0 || !TRANSIENT_MANAGER_ERROR.test(stderr) ? result : undefined;
    },
    {
      timeoutMs: TRANSIENT_RETRY_MS,
      intervalMs: 1_000,
      onWait: () => log.progress(`the swarm is electing a leader: retrying (${stderr.trim()})`),
    },
  );
  if (done?.code === 0) return done.stdout;
  // Same error as execOrThrow's, with the host, command, exit code and stderr tail.
  return (await client.execOrThrow(command)).stdout;
}

/**
 * Runs membership changes of one swarm (join, promote, demote, leave, remove) one at a time:
 * Pulumi creates and deletes nodes in parallel, and raft changes its member list one by one
 * (concurrent manager joins and demotions can time out or risk quorum).
 */
export function withMembershipLock<T>(swarmId: string, body: () => Promise<T>): Promise<T> {
  return withProcessLock(`swarm-membership:${swarmId}`, body);
}

/**
 * Joins the host to the swarm the manager at `joinAddress` (address:port) manages, through the
 * Engine API, the token on stdin (never in a command line or the log).
 */
export async function joinSwarm(
  client: SshClient,
  join: { advertiseAddress: string; port: number; joinAddress: string; token: string },
): Promise<void> {
  await client.execOrThrow(SWARM_JOIN_COMMAND, {
    stdin: renderSwarmJoinRequest(join.advertiseAddress, join.port, join.joinAddress, join.token),
  });
}

/**
 * Takes a node that is gone out of the swarm's list through a manager: demoted first when it
 * managed (a manager counts against quorum until demoted, and Docker removes none before).
 */
export async function dropNode(
  manager: SshClient,
  node: { id: string; role: string },
  log: StepLog,
): Promise<void> {
  if (node.role === "manager") await runDockerOn(manager, ["node", "demote", node.id], log);
  await runDockerOn(manager, ["node", "rm", "--force", node.id], log);
}
