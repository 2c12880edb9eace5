import { randomBytes } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import {
  connectWithRetry,
  resolveSshConnectionArgs,
  sshTarget,
  type SshConnectOptions,
} from "./connect";
import {
  SshCommandError,
  SshCommandTimeoutError,
  SshConnectionLostError,
  type CommandDetails,
  type SshTarget,
} from "./errors";
import { remoteBasename, remoteDirname, renderRemoteCommand, shellQuote } from "./shell";
import type { ExecOptions, ExecResult, SshConnectionArgs } from "./types";

/** After a timeout: SIGTERM, this long to exit, then SIGKILL and close; then give up waiting. */
const TIMEOUT_KILL_GRACE_MS = 2_000;
const DEFAULT_MAX_CONCURRENT_CHANNELS = 8;
/** Tries to open one channel that sshd refuses (about 3 s in all). */
const CHANNEL_OPEN_ATTEMPTS = 8;
/** SFTP status code for a missing file. */
const SFTP_NO_SUCH_FILE = 2;

/**
 * One SSH connection to one host. Commands return honest results; execOrThrow fails on a non-zero
 * exit with the host, command, exit code and stderr tail. Most callers want getSshClient (pooled).
 */
export class SshClient {
  /** "user@host:port", used in every message. */
  readonly target: SshTarget;
  /** The key the host presented, as an OpenSSH line ("ssh-ed25519 AAAA..."): pin it. */
  readonly hostKey: string;
  /** Resolves once the connection has ended, for whatever reason. */
  readonly closed: Promise<void>;
  private connected = true;
  private readonly channels: ChannelLimiter;

  private constructor(
    private readonly connection: Client,
    target: SshTarget,
    hostKey: string,
    maxConcurrentChannels: number,
  ) {
    this.target = target;
    this.hostKey = hostKey;
    this.channels = new ChannelLimiter(maxConcurrentChannels);
    this.closed = new Promise<void>((resolve) => {
      const markClosed = () => {
        this.connected = false;
        resolve();
      };
      connection.once("end", markClosed);
      connection.once("close", markClosed);
    });
    // After the handshake, errors (ECONNRESET, keepalive timeout) also end the connection;
    // commands in flight see that through their channels.
    connection.on("error", () => {
      this.connected = false;
    });
  }

  /**
   * Connects, retrying while the host boots until opts.deadlineMs (default 120 s). Fails at once
   * with SshAuthenticationError or HostKeyMismatchError; SshConnectTimeoutError after the deadline.
   */
  static async connect(args: SshConnectionArgs, opts: SshConnectOptions = {}): Promise<SshClient> {
    const resolved = resolveSshConnectionArgs(args);
    const { connection, presentedHostKey } = await connectWithRetry(resolved, opts);
    return new SshClient(
      connection,
      sshTarget(resolved),
      presentedHostKey,
      opts.maxConcurrentChannels ?? DEFAULT_MAX_CONCURRENT_CHANNELS,
    );
  }

  /** False once the connection has dropped or been closed. */
  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Runs a command through the login user's shell. Resolves with its exit code or signal, whatever
   * they are; rejects only with SshCommandTimeoutError (opts.timeoutMs passed) or
   * SshConnectionLostError (the connection dropped before the command ended).
   * Pass secrets in opts.env or opts.stdin, never in the command: errors print the command.
   */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const remoteCommand = renderRemoteCommand(command, opts.env);
    const envNames = Object.keys(opts.env ?? {});
    return this.channels.run(() => this.runChannel(command, remoteCommand, envNames, opts));
  }

  /** Like exec, but throws SshCommandError unless the command exits 0 (stderr output alone is fine). */
  async execOrThrow(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(command, opts);
    if (result.code !== 0) {
      throw new SshCommandError(
        this.target,
        { command, envNames: Object.keys(opts.env ?? {}), ...result },
        result.code,
        result.signal,
      );
    }
    return result;
  }

  /**
   * Writes a file atomically: creates the parent directory, uploads to a temporary name beside the
   * target over SFTP, sets the mode, then renames it over the target.
   */
  async putContent(remotePath: string, data: string | Buffer, mode: number): Promise<void> {
    const directory = remoteDirname(remotePath);
    await this.execOrThrow(`mkdir -p -- ${shellQuote(directory)}`);
    const temporaryPath = `${directory}/.${remoteBasename(remotePath)}.${randomBytes(6).toString("hex")}.tmp`;
    await this.withSftp(`putContent ${remotePath}`, async (sftp) => {
      try {
        await sftpCall((done) => sftp.writeFile(temporaryPath, data, { mode }, done));
        // chmod after writing: the mode given at creation is reduced by the server's umask.
        await sftpCall((done) => sftp.chmod(temporaryPath, mode, done));
        await sftpCall((done) => sftp.ext_openssh_rename(temporaryPath, remotePath, done));
      } catch (error) {
        await sftpCall((done) => sftp.unlink(temporaryPath, done)).catch(() => undefined);
        throw error;
      }
    });
  }

  /** Reads a whole file over SFTP; undefined when it does not exist. */
  async getContent(remotePath: string): Promise<Buffer | undefined> {
    return this.withSftp(`getContent ${remotePath}`, async (sftp) => {
      try {
        return await new Promise<Buffer>((resolve, reject) =>
          sftp.readFile(remotePath, (error, content) => (error ? reject(error) : resolve(content))),
        );
      } catch (error) {
        if ((error as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return undefined;
        throw error;
      }
    });
  }

  /** Ends the connection; resolves once it is closed (at most a few seconds). */
  async close(): Promise<void> {
    if (!this.connected) return;
    this.connection.end();
    const forced = setTimeout(() => this.connection.destroy(), 3_000);
    try {
      await this.closed;
    } finally {
      clearTimeout(forced);
    }
  }

  private runChannel(
    command: string,
    remoteCommand: string,
    envNames: string[],
    opts: ExecOptions,
  ): Promise<ExecResult> {
    const operation = `exec ${command}`;
    const timeoutMs = opts.timeoutMs;
    return new Promise<ExecResult>((resolve, reject) => {
      if (!this.connected) {
        reject(new SshConnectionLostError(this.target, operation, "not connected"));
        return;
      }
      const stdout = new LineCollector(opts.onStdout);
      const stderr = new LineCollector(opts.onStderr);
      const processGroup = new ProcessGroupSniffer(stderr, timeoutMs !== undefined);
      const details = (): CommandDetails => ({
        command,
        envNames,
        stdout: stdout.text,
        stderr: stderr.text,
      });
      let exit: { code: number | null; signal: string | null } | undefined;
      let timedOut = false;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let markChannelClosed = () => {};
      const channelClosed = new Promise<void>((done) => (markChannelClosed = done));
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stdout.flush();
        stderr.flush();
        outcome();
      };
      const rejectTimedOut = () =>
        settle(() => reject(new SshCommandTimeoutError(this.target, details(), timeoutMs ?? 0)));

      const endOnTimeout = async (channel: ClientChannel) => {
        timedOut = true;
        for (const signalName of ["TERM", "KILL"] as const) {
          await this.signalCommand(channel, processGroup.id, signalName);
          if (signalName === "KILL") channel.close();
          if (await resolvesWithin(channelClosed, TIMEOUT_KILL_GRACE_MS)) return;
        }
        rejectTimedOut();
      };

      const onChannel = (error: unknown, channel: ClientChannel | undefined) => {
        if (error || !channel) {
          settle(() => reject(new SshConnectionLostError(this.target, operation, error)));
          return;
        }
        channel.on("data", (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on("data", (chunk: Buffer) => processGroup.push(chunk));
        channel.on("exit", (code: number | null, signal?: string) => {
          exit = { code: code ?? null, signal: signal ? normalizeSignalName(signal) : null };
        });
        channel.on("error", () => undefined); // the close that follows reports the outcome
        channel.on("close", () => {
          markChannelClosed();
          processGroup.flush();
          if (timedOut) {
            rejectTimedOut();
            return;
          }
          settle(() => {
            if (exit) {
              resolve({ stdout: stdout.text, stderr: stderr.text, ...exit });
            } else if (!this.connected) {
              reject(new SshConnectionLostError(this.target, operation, "connection closed"));
            } else {
              resolve({ stdout: stdout.text, stderr: stderr.text, code: null, signal: null });
            }
          });
        });
        if (timeoutMs !== undefined) {
          timer = setTimeout(() => void endOnTimeout(channel), timeoutMs);
        }
        channel.end(opts.stdin);
      };

      const prefix = timeoutMs !== undefined ? PROCESS_GROUP_REPORT : "";
      this.openChannel<ClientChannel>(
        (callback) => this.connection.exec(prefix + remoteCommand, callback),
        onChannel,
      );
    });
  }

  /**
   * Opens a channel, asking again when sshd refuses it: sshd frees a closed session's slot lazily,
   * so a busy connection can briefly hit MaxSessions. Nothing has run yet, so asking again is
   * safe. onOpen gets the channel synchronously in ssh2's callback, before any of its events.
   */
  private openChannel<T>(
    open: (callback: (error: Error | undefined, channel: T) => void) => void,
    onOpen: (error: unknown, channel: T | undefined) => void,
  ): void {
    let attempt = 0;
    const tryOpen = () => {
      attempt++;
      try {
        if (!this.connected) throw new Error("not connected");
        open((error, channel) => {
          const refused = error !== undefined && /channel open failure/i.test(error.message);
          if (refused && this.connected && attempt < CHANNEL_OPEN_ATTEMPTS) {
            setTimeout(tryOpen, Math.min(20 * 2 ** attempt, 1_000));
          } else {
            onOpen(error, error ? undefined : channel);
          }
        });
      } catch (error) {
        // ssh2 throws "Not connected" synchronously when the socket is gone.
        this.connected = false;
        onOpen(error, undefined);
      }
    };
    tryOpen();
  }

  /**
   * Signals a command and everything it started. sshd's "signal" channel request works only for
   * non-root logins (root sessions have no post-auth privilege separation, which it requires), so
   * the command's process group (sshd makes each session a new one) is also killed from a
   * second channel.
   */
  private async signalCommand(
    channel: ClientChannel,
    processGroupId: number | undefined,
    signalName: "TERM" | "KILL",
  ): Promise<void> {
    sendSignal(channel, signalName);
    if (processGroupId === undefined || !this.connected) return;
    const killed = new Promise<void>((done) => {
      try {
        this.connection.exec(
          `kill -s ${signalName} -- -${processGroupId} 2>/dev/null || true`,
          (error, killChannel) => {
            if (error) return done();
            killChannel.on("close", () => done()).on("error", () => undefined);
            killChannel.resume();
            killChannel.stderr.resume();
            killChannel.end();
          },
        );
      } catch {
        done();
      }
    });
    await resolvesWithin(killed, TIMEOUT_KILL_GRACE_MS);
  }

  private withSftp<T>(operation: string, use: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    return this.channels.run(async () => {
      let sftp: SFTPWrapper;
      try {
        sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
          this.openChannel<SFTPWrapper>(
            (callback) => this.connection.sftp(callback),
            (error, session) => (session ? resolve(session) : reject(error)),
          ),
        );
      } catch (error) {
        throw new SshConnectionLostError(this.target, operation, error);
      }
      sftp.on("error", () => undefined); // failures reach us through the callbacks
      try {
        return await use(sftp);
      } catch (error) {
        if (!this.connected) throw new SshConnectionLostError(this.target, operation, error);
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`ssh ${this.target}: ${operation} failed: ${message}`, { cause: error });
      } finally {
        sftp.end();
      }
    });
  }
}

/** "SIGTERM" whether the server said "TERM" or ssh2 already prefixed it. */
function normalizeSignalName(signal: string): string {
  return signal.startsWith("SIG") ? signal : `SIG${signal}`;
}

interface Ssh2ChannelInternals {
  outgoing?: { id: number; state: string };
  _client?: { _protocol?: { signal(channelId: number, signalName: string): void } };
}

/**
 * Asks sshd to signal the command's process group (honoured for non-root logins only). ssh2's
 * Channel.signal() silently does nothing once stdin has been ended (it checks `writable`), and
 * exec always ends stdin, so this goes one layer down; ssh2 is pinned to an exact version.
 */
function sendSignal(channel: ClientChannel, signalName: "TERM" | "KILL"): void {
  const internals = channel as unknown as Ssh2ChannelInternals;
  try {
    const outgoing = internals.outgoing;
    const protocol = internals._client?._protocol;
    if (outgoing && (outgoing.state === "open" || outgoing.state === "eof") && protocol) {
      protocol.signal(outgoing.id, signalName);
    } else {
      channel.signal(signalName);
    }
  } catch {
    // the channel or connection is already gone: closing it below is all that is left
  }
}

/** Printed first on stderr by commands with a timeout, so they can be killed; never shown. */
const PROCESS_GROUP_MARKER = "dockfleet-process-group:";
const PROCESS_GROUP_REPORT = `printf '${PROCESS_GROUP_MARKER}%s\\n' "$$" >&2\n`;

/** Takes the process group marker line off the front of stderr and passes the rest on. */
class ProcessGroupSniffer {
  id: number | undefined;
  private head: Buffer | undefined;

  constructor(
    private readonly stderr: LineCollector,
    expectMarker: boolean,
  ) {
    this.head = expectMarker ? Buffer.alloc(0) : undefined;
  }

  push(chunk: Buffer): void {
    if (this.head === undefined) return this.stderr.push(chunk);
    this.head = Buffer.concat([this.head, chunk]);
    const newline = this.head.indexOf(0x0a);
    if (newline < 0) return;
    const firstLine = this.head.subarray(0, newline).toString("latin1");
    const match = firstLine.match(new RegExp(`^${PROCESS_GROUP_MARKER}(\\d+)$`));
    const rest = match ? this.head.subarray(newline + 1) : this.head;
    if (match) this.id = Number(match[1]);
    this.head = undefined;
    if (rest.length > 0) this.stderr.push(rest);
  }

  flush(): void {
    if (this.head && this.head.length > 0) this.stderr.push(this.head);
    this.head = undefined;
  }
}

function resolvesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

function sftpCall(start: (done: (error?: Error | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    start((error) => (error ? reject(error) : resolve())),
  );
}

/** Collects a stream's text and hands complete lines to a callback as they arrive. */
class LineCollector {
  text = "";
  private readonly decoder = new StringDecoder("utf8");
  private partialLine = "";

  constructor(private readonly onLine?: (line: string) => void) {}

  push(chunk: Buffer): void {
    const piece = this.decoder.write(chunk);
    this.text += piece;
    if (!this.onLine) return;
    const lines = (this.partialLine + piece).split("\n");
    this.partialLine = lines.pop() ?? "";
    for (const line of lines) this.onLine(line.replace(/\r$/, ""));
  }

  flush(): void {
    const rest = this.decoder.end();
    this.text += rest;
    const last = this.partialLine + rest;
    this.partialLine = "";
    if (this.onLine && last !== "") this.onLine(last);
  }
}

/** Bounds the channels open at once on one connection (sshd refuses more than MaxSessions). */
class ChannelLimiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
