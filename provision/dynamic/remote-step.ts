import * as fs from "node:fs";
import * as path from "node:path";
import type { SshClient } from "../ssh/client";
import { DEFAULT_CONNECT_DEADLINE_MS } from "../ssh/connect";
import {
  HostKeyMismatchError,
  SshCommandTimeoutError,
  SshConnectTimeoutError,
} from "../ssh/errors";
import { withSshRetry } from "../ssh/pool";
import type { ExecOptions, SshConnectionArgs } from "../ssh/types";
import { createStepLog, type StepLog } from "./log";
import { packageProgressLines } from "./package-progress";
import { StepTimeoutError, stepTimeoutMs, type StepActivity, type StepKind } from "./step-timeouts";

/** Who a remote step runs on and where its progress goes. */
export interface RemoteStepTarget {
  /** Host name, for messages ("host-1"). */
  host: string;
  connection: SshConnectionArgs;
  /** URN of the component the step belongs to, so its output shows under it. */
  logUrn: string;
}

/** How a remote step is bounded; see step-timeouts.ts. */
export interface RemoteStepOptions {
  /** How long to try reaching a host that does not answer (within the step's bound). */
  connectDeadlineMs?: number;
  /** Which bound of dockfleet:stepTimeouts applies. @default "configure" */
  kind?: StepKind;
  /** A wait of the step's own (etcd's health, a stack converging), added to its bound. */
  ownWaitMs?: number;
}

/**
 * Runs one idempotent remote step on a host: over the shared connection, reported with its
 * duration, run again when the connection drops mid-step (every step dockfleet runs is safe to
 * repeat), and failing with the host and the step named. The whole step is bounded
 * (dockfleet:stepTimeouts): each command gets the time left as its own timeout, which kills its
 * process group on the host, and the error says what the step was waiting for.
 */
export async function runRemoteStep<T>(
  target: RemoteStepTarget,
  step: string,
  body: (client: SshClient, log: StepLog) => Promise<T>,
  options: RemoteStepOptions = {},
): Promise<T> {
  const log = createStepLog(target.logUrn, `${target.host}: ${step}`);
  const started = Date.now();
  const seconds = () => ((Date.now() - started) / 1000).toFixed(1);
  const kind = options.kind ?? "configure";
  const timeoutMs = stepTimeoutMs(target.connection.stepTimeouts, kind, options.ownWaitMs);
  const deadline = started + timeoutMs;
  const activity: StepActivity = { waitingFor: `the SSH connection to ${target.connection.host}` };
  const timedOut = (cause?: unknown) =>
    new StepTimeoutError(target.host, step, kind, timeoutMs, activity, { cause });
  log.progress("started");
  try {
    injectFault(target.host, step);
    const result = await withinDeadline(
      withSshRetry(
        target.connection,
        (client) =>
          body(
            boundedClient(client, {
              deadline,
              activity,
              timedOut,
              environment: target.connection.proxyEnvironment,
            }),
            log,
          ),
        {
          deadlineMs: Math.min(options.connectDeadlineMs ?? DEFAULT_CONNECT_DEADLINE_MS, timeoutMs),
          log: (line) => log.warn(line),
        },
      ),
      deadline + BACKSTOP_GRACE_MS,
      timedOut,
    );
    log.info(`done in ${seconds()} s`);
    return result;
  } catch (error) {
    if (error instanceof StepTimeoutError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${target.host}: step "${step}" failed after ${seconds()} s\n${reason}`, {
      cause: error,
    });
  }
}

/**
 * How long past its bound a step may take to end on its own: the command running when time ran
 * out is being listed and killed (SIGTERM, then SIGKILL: a few seconds). Past this, something
 * that is no command (an SFTP transfer, a pause) hangs, and the step fails without it.
 */
const BACKSTOP_GRACE_MS = 10_000;

/** Pure apart from its timer: `work`, or the error of `late()` once `at` (epoch ms) has passed. */
async function withinDeadline<T>(work: Promise<T>, at: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), Math.max(0, at - Date.now()));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The step's view of its host: every command runs with the time left before `deadline` as its
 * timeout (the SSH layer kills the command's process group when it passes), no command starts
 * after it, and `activity` keeps what the step waits for and the last line it printed. Every
 * command also gets `environment` (the host's proxy variables), under its own variables.
 */
function boundedClient(
  client: SshClient,
  bounds: {
    deadline: number;
    activity: StepActivity;
    timedOut: (cause?: unknown) => StepTimeoutError;
    environment?: Readonly<Record<string, string>>;
  },
): SshClient {
  const { deadline, activity, timedOut, environment } = bounds;
  // Only lines from before the bound: what the kill makes a command print ("Terminated") would
  // hide what it was doing.
  const noteLine = (line: string) => {
    if (line.trim() !== "" && Date.now() < deadline) activity.lastOutputLine = line.trim();
  };
  const bounded = async <R>(
    waitingFor: string,
    opts: ExecOptions,
    run: (opts: ExecOptions) => Promise<R>,
  ): Promise<R> => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut();
    activity.waitingFor = waitingFor;
    const timeoutMs = Math.min(opts.timeoutMs ?? Infinity, remaining);
    try {
      return await run({
        ...opts,
        env: environment === undefined ? opts.env : { ...environment, ...opts.env },
        timeoutMs,
        onStdout: (line) => (noteLine(line), opts.onStdout?.(line)),
        onStderr: (line) => (noteLine(line), opts.onStderr?.(line)),
      });
    } catch (error) {
      // The step's bound, not a shorter one the caller set for this command.
      if (error instanceof SshCommandTimeoutError && timeoutMs === remaining) {
        if (error.running !== undefined) activity.waitingFor = error.running;
        throw timedOut(error);
      }
      throw error;
    }
  };
  const command = (text: string) => `command "${text.split("\n")[0]}"`;
  return {
    target: client.target,
    hostKey: client.hostKey,
    closed: client.closed,
    get isConnected() {
      return client.isConnected;
    },
    exec: (text, opts = {}) => bounded(command(text), opts, (o) => client.exec(text, o)),
    execOrThrow: (text, opts = {}) =>
      bounded(command(text), opts, (o) => client.execOrThrow(text, o)),
    // SFTP has no timeout of its own: withinDeadline ends the step if a transfer hangs.
    putContent: (path, data, mode) => {
      if (Date.now() >= deadline) throw timedOut();
      activity.waitingFor = `an SFTP upload of ${path}`;
      return client.putContent(path, data, mode);
    },
    getContent: (path) => {
      if (Date.now() >= deadline) throw timedOut();
      activity.waitingFor = `an SFTP download of ${path}`;
      return client.getContent(path);
    },
    close: () => client.close(),
  };
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
 * its last `DOCKFLEET_RESULT` line. Output lines stream into the step's progress, a package
 * manager's per-package lines as a throttled counter ("packages 40% (unpacking containerd)").
 */
export async function runScript(
  client: SshClient,
  script: string,
  env: Record<string, string>,
  log: StepLog,
): Promise<Record<string, string>> {
  const show = packageProgressLines((line) => log.progress(line));
  const result = await client.execOrThrow("bash -s", {
    stdin: script,
    env,
    onStdout: show,
    onStderr: show,
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
  options: Omit<RemoteStepOptions, "connectDeadlineMs"> = {},
): Promise<void> {
  try {
    await runRemoteStep(target, step, body, {
      ...options,
      connectDeadlineMs: UNDO_CONNECT_DEADLINE_MS,
    });
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
