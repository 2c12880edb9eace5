/** Where and how to reach a host over SSH. Plain values: dynamic providers receive resolved inputs. */
export interface SshConnectionArgs {
  /** Address (IP or DNS name) the test machine or operator reaches the host at. */
  host: string;
  /** @default 22 */
  port?: number;
  /**
   * The login user. Any user other than root must have passwordless sudo: every command and file
   * then goes through `sudo -n -H` (as-root.ts), and connecting fails without it.
   * @default "root"
   */
  user?: string;
  /** OpenSSH or PEM private key. Always a Pulumi secret where it comes from state. */
  privateKey: string;
  /**
   * The host key pinned on first contact, as an OpenSSH public key line ("ssh-ed25519 AAAA...").
   * When set, a host presenting any other key is refused.
   */
  hostKey?: string;
  /**
   * Seconds each kind of remote step on this host may take ({install, configure}: see
   * provision/dynamic/step-timeouts.ts). It travels with the connection so that every step on
   * the host has it; it is no part of how the host is reached, and changing it changes no step.
   */
  stepTimeouts?: Readonly<Record<string, number>>;
  /**
   * The host's proxy variables (HTTP_PROXY, NO_PROXY, ...: provision/dynamic/proxy-environment.ts),
   * set for every command of every remote step. Like stepTimeouts it travels with the connection,
   * a secret with it (the proxy's URL may hold a password), and changing it changes no step.
   */
  proxyEnvironment?: Readonly<Record<string, string>>;
}

/** The honest result of one remote command. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the command was ended by a signal. */
  code: number | null;
  /** The signal that ended the command, as Node names it ("SIGTERM"), or null. */
  signal: string | null;
}

export interface ExecOptions {
  /** Data written to the command's standard input, then closed. */
  stdin?: string | Buffer;
  /** Environment variables, exported in front of the command (sshd's AcceptEnv is not relied on). */
  env?: Record<string, string>;
  /** Called with each complete line of output as it arrives. */
  onStdout?: (line: string) => void;
  onStderr?: (line: string) => void;
  /** Ends the command (and fails) after this long. @default no limit */
  timeoutMs?: number;
}
