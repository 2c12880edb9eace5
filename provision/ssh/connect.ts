import { setTimeout as sleep } from "node:timers/promises";
import { Client, utils, type ConnectConfig, type ServerHostKeyAlgorithm } from "ssh2";
import {
  HostKeyMismatchError,
  SshAuthenticationError,
  SshConnectTimeoutError,
  type SshTarget,
} from "./errors";
import {
  fingerprintOfBlob,
  formatOpenSshPublicKey,
  parseOpenSshPublicKey,
  type OpenSshPublicKey,
} from "./keys";
import type { SshConnectionArgs } from "./types";

/** How connecting behaves; shared by SshClient.connect, getSshClient and withSshRetry. */
export interface SshConnectOptions {
  /** Keep retrying unreachable hosts (booting, sshd not up yet) this long. @default 120000 */
  deadlineMs?: number;
  /** Progress lines ("not reachable yet, retrying..."), e.g. into Pulumi's log for the resource. */
  log?: (line: string) => void;
  /**
   * Most channels (commands, SFTP sessions) open at once on one connection; more wait their turn.
   * sshd's MaxSessions defaults to 10. @default 8
   */
  maxConcurrentChannels?: number;
}

/** SshConnectionArgs with every default applied. */
export interface ResolvedSshConnectionArgs {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKey?: OpenSshPublicKey;
}

export const DEFAULT_CONNECT_DEADLINE_MS = 120_000;
const FIRST_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 5_000;
const MAX_ATTEMPT_TIMEOUT_MS = 20_000;
const MIN_ATTEMPT_TIMEOUT_MS = 1_000;
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 4;

/** Applies defaults and checks the args; throws (not retried) on a bad key or pinned host key. */
export function resolveSshConnectionArgs(args: SshConnectionArgs): ResolvedSshConnectionArgs {
  const resolved = {
    host: args.host,
    port: args.port ?? 22,
    user: args.user ?? "root",
    privateKey: args.privateKey,
    hostKey: args.hostKey ? parseOpenSshPublicKey(args.hostKey) : undefined,
  };
  if (!resolved.host) throw new Error("ssh: host is empty; set the machine's address");
  if (resolved.hostKey) hostKeyAlgorithmsFor(resolved.hostKey.type); // throws on unsupported types
  const target = sshTarget(resolved);
  const parsed = utils.parseKey(resolved.privateKey);
  if (parsed instanceof Error) {
    throw new Error(
      `ssh ${target}: cannot read the private key (${parsed.message}); ` +
        "pass an unencrypted OpenSSH or PEM private key",
    );
  }
  return resolved;
}

export function sshTarget(args: { user: string; host: string; port: number }): SshTarget {
  return `${args.user}@${args.host}:${args.port}`;
}

/** A connection that finished its handshake, and the host key the server presented. */
export interface EstablishedConnection {
  connection: Client;
  presentedHostKey: string;
}

/**
 * Connects, retrying with exponential backoff while the host is unreachable (refused, timed out,
 * reset during handshake, no route) until the deadline. Authentication failures and host key
 * mismatches fail at once.
 */
export async function connectWithRetry(
  args: ResolvedSshConnectionArgs,
  opts: SshConnectOptions = {},
): Promise<EstablishedConnection> {
  const deadlineMs = opts.deadlineMs ?? DEFAULT_CONNECT_DEADLINE_MS;
  const target = sshTarget(args);
  const giveUpAt = Date.now() + deadlineMs;
  let delayMs = FIRST_RETRY_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    const remainingMs = giveUpAt - Date.now();
    const attemptTimeoutMs = Math.min(
      MAX_ATTEMPT_TIMEOUT_MS,
      Math.max(MIN_ATTEMPT_TIMEOUT_MS, remainingMs),
    );
    try {
      return await connectOnce(args, attemptTimeoutMs);
    } catch (error) {
      if (error instanceof HostKeyMismatchError || error instanceof SshAuthenticationError) {
        throw error;
      }
      const waitMs = Math.min(delayMs, giveUpAt - Date.now());
      if (waitMs <= 0) throw new SshConnectTimeoutError(target, deadlineMs, attempt, error);
      opts.log?.(
        `ssh ${target}: not reachable yet (${describeError(error)}); retry ${attempt} in ${waitMs} ms`,
      );
      await sleep(waitMs);
      delayMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS);
    }
  }
}

function connectOnce(
  args: ResolvedSshConnectionArgs,
  timeoutMs: number,
): Promise<EstablishedConnection> {
  const target = sshTarget(args);
  const connection = new Client();
  let presentedBlob: Buffer | undefined;
  let mismatch: HostKeyMismatchError | undefined;
  const expected = args.hostKey;

  const config: ConnectConfig = {
    host: args.host,
    port: args.port,
    username: args.user,
    privateKey: args.privateKey,
    readyTimeout: timeoutMs,
    keepaliveInterval: KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    hostVerifier: (key: Buffer): boolean => {
      presentedBlob = Buffer.from(key);
      if (expected && !expected.blob.equals(presentedBlob)) {
        const presentedLine = formatOpenSshPublicKey(presentedBlob);
        mismatch = new HostKeyMismatchError(
          target,
          fingerprintOfBlob(expected.blob),
          fingerprintOfBlob(presentedBlob),
          presentedLine,
        );
        return false;
      }
      return true;
    },
  };
  // A host with several host keys would otherwise present the one ssh2 prefers, not the pinned one.
  if (expected) config.algorithms = { serverHostKey: hostKeyAlgorithmsFor(expected.type) };

  return new Promise<EstablishedConnection>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      connection.end();
      if (mismatch) reject(mismatch);
      else if ((error as { level?: string }).level === "client-authentication") {
        reject(new SshAuthenticationError(target, error));
      } else reject(error);
    };
    connection.on("error", fail);
    connection.once("close", () => fail(new Error("connection closed during the SSH handshake")));
    connection.once("ready", () => {
      if (settled) return;
      settled = true;
      // fail stays attached as a no-op: an "error" event without a listener would crash the process.
      if (!presentedBlob) {
        connection.end();
        reject(new Error(`ssh ${target}: the server presented no host key`));
        return;
      }
      resolve({ connection, presentedHostKey: formatOpenSshPublicKey(presentedBlob) });
    });
    try {
      connection.connect(config);
      // Nagle's algorithm held each request's last small packet until the host's delayed ACK
      // (about 40 ms): every exec, SFTP session and probe paid it, many times per step.
      connection.setNoDelay(true);
    } catch (error) {
      fail(error);
    }
  });
}

/** Signature algorithms that a host key of this type can be presented with. */
function hostKeyAlgorithmsFor(keyType: string): ServerHostKeyAlgorithm[] {
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  const single = SINGLE_ALGORITHM_HOST_KEY_TYPES.find((known) => known === keyType);
  if (!single) {
    throw new Error(
      `pinned host key type ${JSON.stringify(keyType)} is not supported; ` +
        `pin one of: ssh-rsa, ${SINGLE_ALGORITHM_HOST_KEY_TYPES.join(", ")}`,
    );
  }
  return [single];
}

const SINGLE_ALGORITHM_HOST_KEY_TYPES: ServerHostKeyAlgorithm[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
];

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}
