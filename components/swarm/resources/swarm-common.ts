import { setTimeout as sleep } from "node:timers/promises";
import {
  LOCAL_SWARM_STATE_COMMAND,
  parseLocalSwarmState,
  parseNodeInspect,
  renderDockerCommand,
  type LocalSwarmState,
  type ObservedSwarmNode,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { StepLog } from "../../../provision/dynamic/log";
import { withProcessLock } from "../../../provision/dynamic/process-lock";

/** What the swarm providers share: reading a host's swarm state, polling, and one lock. */

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
  const deadline = Date.now() + TRANSIENT_RETRY_MS;
  for (;;) {
    const result = await client.exec(command);
    if (result.code === 0) return result.stdout;
    if (!TRANSIENT_MANAGER_ERROR.test(result.stderr) || Date.now() > deadline) {
      // Same error as execOrThrow's, with the host, command, exit code and stderr tail.
      return (await client.execOrThrow(command)).stdout;
    }
    log.progress(`the swarm is electing a leader: retrying (${result.stderr.trim()})`);
    await sleep(1_000);
  }
}

/**
 * Calls `check` until it returns a value other than undefined, every `intervalMs`, for at most
 * `timeoutMs`; then returns undefined (the caller decides whether that is an error).
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}

/**
 * Runs membership changes of one swarm (join, promote, demote, leave, remove) one at a time:
 * Pulumi creates and deletes nodes in parallel, and raft changes its member list one by one
 * (concurrent manager joins and demotions can time out or risk quorum).
 */
export function withMembershipLock<T>(swarmId: string, body: () => Promise<T>): Promise<T> {
  return withProcessLock(`swarm-membership:${swarmId}`, body);
}
