/** Where a failure happened, as "user@host:port". */
export type SshTarget = string;

/** Base class: every error of the SSH layer names the target it was talking to. */
export class SshError extends Error {
  constructor(
    message: string,
    readonly target: SshTarget,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The host presented a key other than the pinned one. Never retried: it may be an attacker. */
export class HostKeyMismatchError extends SshError {
  constructor(
    target: SshTarget,
    readonly expectedFingerprint: string,
    readonly presentedFingerprint: string,
    readonly presentedKey: string,
  ) {
    super(
      [
        `host key mismatch for ${target}`,
        `expected:  ${expectedFingerprint}`,
        `presented: ${presentedFingerprint}`,
        "If the host was rebuilt on purpose, clear the pinned host key (for example replace the " +
          "machine resource); otherwise do not connect: someone may be intercepting the connection.",
      ].join("\n"),
      target,
    );
  }
}

/** The server refused every key we offered. Never retried. */
export class SshAuthenticationError extends SshError {
  constructor(target: SshTarget, cause: unknown) {
    super(
      [
        `authentication failed for ${target}: the server refused the private key`,
        "Check that the matching public key is in the user's ~/.ssh/authorized_keys on the host " +
          "and that the user name is right.",
      ].join("\n"),
      target,
      { cause },
    );
  }
}

/**
 * A login user other than root cannot run commands as root through sudo without a password.
 * Checked as the connection opens, before any command runs: never retried.
 */
export class SudoRequiredError extends SshError {
  constructor(
    target: SshTarget,
    readonly user: string,
    details: CommandDetails,
    readonly code: number | null,
  ) {
    super(
      [
        `${user} cannot run commands as root on ${target}: dockfleet runs every command on the ` +
          "host as root, through sudo when the login user is not root",
        `command: ${details.command}`,
        `exit code: ${code ?? "none"}`,
        ...tailLines(details.stderr, 5).map((line) => `  ${line}`),
        `Log in as root, or give ${user} passwordless sudo (install sudo if it is missing): put ` +
          `the line "${user} ALL=(ALL) NOPASSWD:ALL" in /etc/sudoers.d/${user} (mode 0440; ` +
          `visudo -cf /etc/sudoers.d/${user} checks it).`,
      ].join("\n"),
      target,
    );
  }
}

/** The host never became reachable before the deadline. */
export class SshConnectTimeoutError extends SshError {
  constructor(
    target: SshTarget,
    readonly deadlineMs: number,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(
      [
        `could not connect to ${target} within ${deadlineMs} ms (${attempts} attempts)`,
        `last error: ${describeCause(cause)}`,
        "Check that the host is running, the address and port are right, and that a firewall or " +
          "security group lets the SSH port through.",
      ].join("\n"),
      target,
      { cause },
    );
  }
}

/**
 * The connection dropped (or a channel could not be opened) while a command or transfer ran.
 * The step may or may not have taken effect: retry it only when it is idempotent (see withSshRetry).
 */
export class SshConnectionLostError extends SshError {
  constructor(
    target: SshTarget,
    readonly operation: string,
    cause?: unknown,
  ) {
    super(
      [
        `connection to ${target} lost during: ${operation}`,
        cause === undefined ? "" : `cause: ${describeCause(cause)}`,
      ]
        .filter((line) => line !== "")
        .join("\n"),
      target,
      { cause },
    );
  }
}

/** What a failed or timed-out command leaves behind, for error messages. */
export interface CommandDetails {
  command: string;
  /** Names only: values may be secrets. */
  envNames: string[];
  stdout: string;
  stderr: string;
}

/** A command exited non-zero or was killed by a signal. */
export class SshCommandError extends SshError {
  readonly command: string;
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    target: SshTarget,
    details: CommandDetails,
    readonly code: number | null,
    readonly signal: string | null,
  ) {
    const status =
      code !== null
        ? `exit code: ${code}`
        : signal !== null
          ? `killed by signal: ${signal}`
          : "exit code: none (the channel closed without an exit status)";
    super(renderCommandFailure(`command failed on ${target}`, details, status), target);
    this.command = details.command;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
  }
}

/** A command ran longer than its timeoutMs and was ended. */
export class SshCommandTimeoutError extends SshError {
  readonly command: string;
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    target: SshTarget,
    details: CommandDetails,
    readonly timeoutMs: number,
    /** What ran in the command's process group when time ran out ("apt-get ... > dpkg ..."). */
    readonly running?: string,
  ) {
    super(
      renderCommandFailure(
        `command timed out on ${target}`,
        details,
        `timeout: ${timeoutMs} ms (its processes were sent SIGTERM, then SIGKILL if still running)` +
          (running === undefined ? "" : `\nit was running: ${running}`),
      ),
      target,
    );
    this.command = details.command;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
  }
}

/** True for errors after which reconnecting and repeating an idempotent step makes sense. */
export function isSshConnectionLoss(error: unknown): error is SshConnectionLostError {
  return error instanceof SshConnectionLostError;
}

const TAIL_LINES = 20;

/** Last lines of a command's output, for error messages. */
export function tailLines(text: string, count = TAIL_LINES): string[] {
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.length === 1 && lines[0] === "" ? [] : lines.slice(-count);
}

function renderCommandFailure(headline: string, details: CommandDetails, status: string): string {
  const lines = [headline, `command: ${details.command}`];
  if (details.envNames.length > 0) {
    lines.push(`env: ${details.envNames.join(", ")} (values hidden)`);
  }
  lines.push(status);
  const stderrTail = tailLines(details.stderr);
  const stdoutTail = tailLines(details.stdout);
  if (stderrTail.length > 0) {
    lines.push(`stderr (last ${stderrTail.length} lines):`, ...stderrTail.map((l) => `  ${l}`));
  } else if (stdoutTail.length > 0) {
    lines.push(`stdout (last ${stdoutTail.length} lines):`, ...stdoutTail.map((l) => `  ${l}`));
  } else {
    lines.push("(no output)");
  }
  return lines.join("\n");
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
  }
  return String(cause);
}
