import * as fs from "node:fs";
import * as path from "node:path";
import type { SshClient } from "../ssh/client";
import { HostKeyMismatchError, SshConnectTimeoutError } from "../ssh/errors";
import { withSshRetry } from "../ssh/pool";
import type { SshConnectionArgs } from "../ssh/types";
import { createStepLog, type StepLog } from "./log";

/** Who a remote step runs on and where its progress goes. */
export interface RemoteStepTarget {
  /** Host name, for messages ("host-1"). */
  host: string;
  connection: SshConnectionArgs;
  /** URN of the component the step belongs to, so its output shows under it. */
  logUrn: string;
}

/**
 * Runs one idempotent remote step on a host: over the shared connection, reported with its
 * duration, run again when the connection drops mid-step (every step dockfleet runs is safe to
 * repeat), and failing with the host and the step named.
 */
export async function runRemoteStep<T>(
  target: RemoteStepTarget,
  step: string,
  body: (client: SshClient, log: StepLog) => Promise<T>,
  options: { connectDeadlineMs?: number } = {},
): Promise<T> {
  const log = createStepLog(target.logUrn, `${target.host}: ${step}`);
  const started = Date.now();
  const seconds = () => ((Date.now() - started) / 1000).toFixed(1);
  log.progress("started");
  try {
    injectFault(target.host, step);
    const result = await withSshRetry(target.connection, (client) => body(client, log), {
      deadlineMs: options.connectDeadlineMs,
      log: (line) => log.warn(line),
    });
    log.info(`done in ${seconds()} s`);
    return result;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${target.host}: step "${step}" failed after ${seconds()} s\n${reason}`, {
      cause: error,
    });
  }
}

/**
 * Test hook for fault tests: DOCKFLEET_FAIL_STEP="host-2:install docker" makes that step fail once
 * per process before it touches the host, so that the next `up` has to repair the state.
 */
function injectFault(host: string, step: string): void {
  const wanted = process.env.DOCKFLEET_FAIL_STEP;
  if (wanted !== undefined && (wanted === `${host}:${step}` || wanted === `*:${step}`)) {
    throw new Error(`injected failure (DOCKFLEET_FAIL_STEP=${wanted})`);
  }
}

/**
 * The helpers every remote script uses (log, die, the OS, waiting for the package manager's lock,
 * the result line), beside this folder both in the sources and in dist.
 */
export const SCRIPT_PRELUDE_PATH = path.join(__dirname, "..", "scripts", "prelude.sh");

let scriptPrelude: string | undefined;

/**
 * The text of a component's script, `<componentDir>/scripts/<name>` (beside the component both
 * in the sources and in dist), to pass to `runScript`: the shared prelude, then the script, so
 * that one `bash -s` has both and the host needs no file of dockfleet's.
 */
export function readScript(componentDir: string, name: string): string {
  scriptPrelude ??= fs.readFileSync(SCRIPT_PRELUDE_PATH, "utf8");
  return scriptPrelude + fs.readFileSync(path.join(componentDir, "scripts", name), "utf8");
}

/**
 * Runs a component's script on the host through `bash -s` and returns the key=value pairs of
 * its last `DOCKFLEET_RESULT` line. Output lines stream into the step's progress.
 */
export async function runScript(
  client: SshClient,
  script: string,
  env: Record<string, string>,
  log: StepLog,
): Promise<Record<string, string>> {
  const result = await client.execOrThrow("bash -s", {
    stdin: script,
    env,
    onStdout: (line) => log.progress(line),
    onStderr: (line) => log.progress(line),
  });
  return parseScriptResult(result.stdout);
}

/** Pure: the fields of the last `DOCKFLEET_RESULT k=v k=v` line of a script's output. */
export function parseScriptResult(stdout: string): Record<string, string> {
  const line = stdout
    .split("\n")
    .reverse()
    .find((candidate) => candidate.startsWith("DOCKFLEET_RESULT"));
  if (line === undefined) {
    throw new Error("the script ended without its DOCKFLEET_RESULT line");
  }
  const fields: Record<string, string> = {};
  for (const pair of line.split(/\s+/).slice(1)) {
    const separator = pair.indexOf("=");
    if (separator > 0) fields[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return fields;
}

/**
 * Whether a connection now points at another machine: its pinned host key changed (the host was
 * replaced or recreated). Steps run anew there; the old machine is left to its own delete, which
 * skips it when it is gone. A host's identity is its key, not how it is reached.
 */
export function isAnotherHost(olds: SshConnectionArgs, news: SshConnectionArgs): boolean {
  return olds.hostKey !== news.hostKey;
}

/**
 * Whether the same machine is now reached differently: another address, port, user or login key.
 * That is an update in place (the step runs again through the new connection, which is safe:
 * every step is idempotent), never a replacement, which would undo the step on the host.
 */
export function isReachedDifferently(olds: SshConnectionArgs, news: SshConnectionArgs): boolean {
  return (
    olds.host !== news.host ||
    (olds.port ?? 22) !== (news.port ?? 22) ||
    (olds.user ?? "root") !== (news.user ?? "root") ||
    olds.privateKey !== news.privateKey
  );
}

/**
 * Runs a remote step that undoes something (a delete), giving up on connecting after 15 s: a host
 * that is already gone has nothing left to undo, so not reaching it is no error. Any other
 * failure is.
 */
export async function runUndoStep(
  target: RemoteStepTarget,
  step: string,
  body: (client: SshClient, log: StepLog) => Promise<unknown>,
): Promise<void> {
  try {
    await runRemoteStep(target, step, body, { connectDeadlineMs: UNDO_CONNECT_DEADLINE_MS });
  } catch (error) {
    if (!isHostGone(error)) throw error;
  }
}

/** How long an undo step tries to reach its host before taking it for gone. */
export const UNDO_CONNECT_DEADLINE_MS = 15_000;

/**
 * Whether a remote step failed because its host is gone: unreachable until the deadline, or
 * answering at its address with another host key (the machine was replaced: nothing of the old
 * one is left to undo there, and nothing is sent to a host whose key does not match).
 */
export function isHostGone(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof SshConnectTimeoutError || cause instanceof HostKeyMismatchError)
      return true;
  }
  return false;
}

/** The inputs every remote step's provider keeps: how to reach its host. */
export interface RemoteStepInputs {
  connection: SshConnectionArgs;
}

/**
 * The diff of a remote step that is safe to repeat: another machine replaces it (it runs anew
 * there); a change of any of `updateKeys` (compared as JSON) or of how the host is reached is an
 * update in place (the step runs again, or only the new value is kept).
 */
export function diffRemoteStep<T extends RemoteStepInputs>(
  olds: T,
  news: T,
  updateKeys: readonly (keyof T)[],
): { changes: boolean; replaces: string[] } {
  const replaces = isAnotherHost(olds.connection, news.connection) ? ["connection"] : [];
  const changes =
    replaces.length > 0 ||
    updateKeys.some((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key])) ||
    isReachedDifferently(olds.connection, news.connection);
  return { changes, replaces };
}

/** One file to put on a host over SFTP. */
export interface FileUpload {
  path: string;
  content: string;
  /** File mode, set as the file is created: a key is 0600 from the moment it lands. */
  mode: number;
}

/** Creates `directory` (mode 0700) and puts the files on the host over SFTP, one by one. */
export async function uploadFiles(
  client: SshClient,
  directory: string,
  uploads: readonly FileUpload[],
): Promise<void> {
  await client.execOrThrow(`install -d -m 0700 ${directory}`);
  for (const upload of uploads) {
    await client.putContent(upload.path, upload.content, upload.mode);
  }
}
