import { randomBytes } from "node:crypto";
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
  SudoRequiredError,
  type CommandDetails,
  type SshTarget,
} from "./errors";
import {
  ChannelLimiter,
  LineCollector,
  PROCESS_GROUP_REPORT,
  ProcessGroupSniffer,
  normalizeSignalName,
  resolvesWithin,
  sendSignal,
} from "./channel";
import { describeProcessGroup, PROCESS_LIST_COMMAND } from "./processes";
import {
  logsInAsRoot,
  NO_SUCH_FILE_EXIT_CODE,
  renderAsRoot,
  renderReadFileAsBase64,
  renderWriteStdinToFile,
} from "./as-root";
import {
  remoteBasename,
  remoteDirname,
  renderRemoteCommand,
  shellQuote,
  type RemoteCommand,
} from "./shell";
import type { ExecOptions, ExecResult, SshConnectionArgs } from "./types";

/** After a timeout: SIGTERM, this long to exit, then SIGKILL and close; then give up waiting. */
const TIMEOUT_KILL_GRACE_MS = 2_000;
const DEFAULT_MAX_CONCURRENT_CHANNELS = 8;
/** Tries to open one channel that sshd refuses (about 3 s in all). */
const CHANNEL_OPEN_ATTEMPTS = 8;
/** SFTP status code for a missing file. */
const SFTP_NO_SUCH_FILE = 2;

/**
 * What callers do with a host's SSH connection: run commands, put and read files, and watch it
 * end. SshConnection is the real one (getSshClient hands out pooled ones); unit tests of the
 * providers put fakes in its place (useFakeSshClients, test/helpers/fake-ssh.ts).
 */
export interface SshClient {
  /** "user@host:port", used in every message. */
  readonly target: SshTarget;
  /** The key the host presented, as an OpenSSH line ("ssh-ed25519 AAAA..."): pin it. */
  readonly hostKey: string;
  /** Resolves once the connection has ended, for whatever reason. */
  readonly closed: Promise<void>;
  /** False once the connection has dropped or been closed. */
  readonly isConnected: boolean;
  /**
   * Runs a command as root: through the login user's shell, and sudo when that user is not root.
   * Resolves with its exit code or signal, whatever they are; rejects only with
   * SshCommandTimeoutError (opts.timeoutMs passed) or SshConnectionLostError (the connection
   * dropped before the command ended).
   * Pass secrets in opts.env or opts.stdin, never in the command: errors print the command.
   */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but throws SshCommandError unless the command exits 0. */
  execOrThrow(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Writes a file as root, atomically (parent directory created), with the given mode. */
  putContent(remotePath: string, data: string | Buffer, mode: number): Promise<void>;
  /** Reads a whole file as root; undefined when it does not exist. */
  getContent(remotePath: string): Promise<Buffer | undefined>;
  /** Ends the connection; resolves once it is closed. */
  close(): Promise<void>;
}

/**
 * One SSH connection to one host. Commands return honest results; execOrThrow fails on a non-zero
 * exit with the host, command, exit code and stderr tail. Most callers want getSshClient (pooled).
 * Everything runs as root: a login user other than root goes through passwordless sudo
 * (as-root.ts), which connect checks before anything else runs.
 */
export class SshConnection implements SshClient {
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
    private readonly user: string,
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
   * with SshAuthenticationError or HostKeyMismatchError; SshConnectTimeoutError after the deadline;
   * SudoRequiredError when the login user is not root and cannot run a command through sudo.
   */
  static async connect(
    args: SshConnectionArgs,
    opts: SshConnectOptions = {},
  ): Promise<SshConnection> {
    const resolved = resolveSshConnectionArgs(args);
    const { connection, presentedHostKey } = await connectWithRetry(resolved, opts);
    const client = new SshConnection(
      connection,
      resolved.user,
      sshTarget(resolved),
      presentedHostKey,
      opts.maxConcurrentChannels ?? DEFAULT_MAX_CONCURRENT_CHANNELS,
    );
    if (!logsInAsRoot(resolved.user)) await client.checkSudo();
    return client;
  }

  /** Fails with SudoRequiredError, the connection closed, unless a command runs through sudo. */
  private async checkSudo(): Promise<void> {
    const command = "true";
    try {
      const result = await this.exec(command);
      if (result.code === 0) return;
      const details = { command: renderAsRoot(command, this.user), envNames: [], ...result };
      throw new SudoRequiredError(this.target, this.user, details, result.code);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** False once the connection has dropped or been closed. */
  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Runs a command as root: through the login user's shell, and sudo when that user is not root.
   * Resolves with its exit code or signal, whatever they are; rejects only with
   * SshCommandTimeoutError (opts.timeoutMs passed) or SshConnectionLostError (the connection
   * dropped before the command ended).
   * Pass secrets in opts.env or opts.stdin, never in the command: errors print the command.
   */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const remote = renderRemoteCommand(command, opts.env);
    const envNames = Object.keys(opts.env ?? {});
    return this.channels.run(() => this.runChannel(command, remote, envNames, opts));
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
   * Writes a file as root, atomically: creates the parent directory, puts the data under a
   * temporary name beside the target (over SFTP for root, else through sudo: SFTP runs as the
   * login user), sets the mode, then renames it over the target.
   */
  async putContent(remotePath: string, data: string | Buffer, mode: number): Promise<void> {
    const directory = remoteDirname(remotePath);
    const temporaryPath = `${directory}/.${remoteBasename(remotePath)}.${randomBytes(6).toString("hex")}.tmp`;
    if (!logsInAsRoot(this.user)) {
      await this.execOrThrow(renderWriteStdinToFile(remotePath, temporaryPath, mode), {
        stdin: data,
      });
      return;
    }
    await this.execOrThrow(`mkdir -p -- ${shellQuote(directory)}`);
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

  /**
   * Reads a whole file as root (over SFTP for root, else through sudo); undefined when it does
   * not exist.
   */
  async getContent(remotePath: string): Promise<Buffer | undefined> {
    if (!logsInAsRoot(this.user)) {
      try {
        const { stdout } = await this.execOrThrow(renderReadFileAsBase64(remotePath));
        return Buffer.from(stdout, "base64");
      } catch (error) {
        if (error instanceof SshCommandError && error.code === NO_SUCH_FILE_EXIT_CODE)
          return undefined;
        throw error;
      }
    }
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
    remote: RemoteCommand,
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
      let running: string | undefined;
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
        settle(() =>
          reject(new SshCommandTimeoutError(this.target, details(), timeoutMs ?? 0, running)),
        );

      const endOnTimeout = async (channel: ClientChannel) => {
        timedOut = true;
        // What it was waiting for, read before it is killed: the error names it.
        running = await this.describeProcessGroup(processGroup.id);
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
        channel.end(
          remote.stdinPrefix === ""
            ? opts.stdin
            : Buffer.concat([Buffer.from(remote.stdinPrefix), Buffer.from(opts.stdin ?? "")]),
        );
      };

      const prefix = timeoutMs !== undefined ? PROCESS_GROUP_REPORT : "";
      this.openChannel<ClientChannel>(
        (callback) =>
          this.connection.exec(prefix + renderAsRoot(remote.command, this.user), callback),
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
    if (processGroupId === undefined) return;
    // The group's commands run as root when the login user reaches root through sudo.
    const kill = `kill -s ${signalName} -- -${processGroupId} 2>/dev/null || true`;
    await this.execBeside(renderAsRoot(kill, this.user));
  }

  /** The processes of a timed-out command's group, newest last ("apt-get ... > dpkg ..."). */
  private async describeProcessGroup(processGroupId: number | undefined) {
    if (processGroupId === undefined) return undefined;
    const listed = await this.execBeside(renderAsRoot(PROCESS_LIST_COMMAND, this.user));
    return listed === undefined ? undefined : describeProcessGroup(listed, processGroupId);
  }

  /**
   * Runs a short helper command on a channel of its own, past the channel limit (the command it
   * helps holds a slot), and returns its stdout; undefined when it fails or takes longer than
   * the kill grace.
   */
  private async execBeside(command: string): Promise<string | undefined> {
    if (!this.connected) return undefined;
    const done = new Promise<string | undefined>((resolve) => {
      try {
        this.connection.exec(command, (error, channel) => {
          if (error) return resolve(undefined);
          let stdout = "";
          channel.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
          channel.on("close", () => resolve(stdout)).on("error", () => undefined);
          channel.stderr.resume();
          channel.end();
        });
      } catch {
        resolve(undefined);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>(
      (resolve) => (timer = setTimeout(() => resolve(undefined), TIMEOUT_KILL_GRACE_MS)),
    );
    return Promise.race([done, late]).finally(() => clearTimeout(timer));
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

function sftpCall(start: (done: (error?: Error | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    start((error) => (error ? reject(error) : resolve())),
  );
}
