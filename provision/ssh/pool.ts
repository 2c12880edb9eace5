import { setTimeout as sleep } from "node:timers/promises";
import { createHash } from "node:crypto";
import { SshConnection, type SshClient } from "./client";
import { resolveSshConnectionArgs, sshTarget, type SshConnectOptions } from "./connect";
import { HostKeyMismatchError, SshConnectionLostError, isSshConnectionLoss } from "./errors";
import { fingerprintOfBlob, parseOpenSshPublicKey } from "./keys";
import type { SshConnectionArgs } from "./types";

type Pool = Map<string, Promise<SshConnection>>;

// On globalThis under a registered symbol: Pulumi deserializes each dynamic provider's closure
// separately, so module-level state would give every resource its own pool.
const POOL_SYMBOL = Symbol.for("dockfleet.provision.ssh.pool.v1");

function pool(): Pool {
  const holder = globalThis as { [POOL_SYMBOL]?: Pool };
  holder[POOL_SYMBOL] ??= new Map();
  return holder[POOL_SYMBOL];
}

/** user@host:port, plus which key logs in: a rotated key gets its own connection. */
function poolKey(args: SshConnectionArgs): string {
  const resolved = resolveSshConnectionArgs(args);
  const keyId = createHash("sha256").update(resolved.privateKey).digest("hex").slice(0, 16);
  return `${sshTarget(resolved)}#${keyId}`;
}

/**
 * The shared connection to args' user@host:port, connecting (with retries, see
 * SshConnection.connect) when there is none or the previous one dropped. Concurrent callers share
 * one connection attempt. When args.hostKey is set, a pooled connection made without a pin is
 * checked against it. In unit tests, the fake registered for the host (useFakeSshClients) answers.
 */
export async function getSshClient(
  args: SshConnectionArgs,
  opts: SshConnectOptions = {},
): Promise<SshClient> {
  const fakes = fakeSshClients();
  if (fakes !== undefined) return connectFake(fakes, args);
  const key = poolKey(args);
  const clients = pool();
  const pooled = clients.get(key);
  if (pooled) {
    const client = await pooled;
    if (client.isConnected) {
      checkPinnedHostKey(client, args);
      return client;
    }
    if (clients.get(key) === pooled) clients.delete(key);
  }
  const connecting = SshConnection.connect(args, opts);
  clients.set(key, connecting);
  const forget = () => {
    if (clients.get(key) === connecting) clients.delete(key);
  };
  connecting.then((client) => client.closed.then(forget), forget);
  return connecting;
}

/** Closes every pooled connection (end of a deployment or a test). */
export async function closeAllSshClients(): Promise<void> {
  const clients = pool();
  const all = [...clients.values()];
  clients.clear();
  await Promise.all(
    all.map((connecting) => connecting.then((client) => client.close()).catch(() => undefined)),
  );
}

export interface SshRetryOptions extends SshConnectOptions {
  /** How many times in all the step may run. @default 3 */
  attempts?: number;
  /** Called before each retry, e.g. to log it on the resource. */
  onRetry?: (error: SshConnectionLostError, nextAttempt: number) => void;
}

/**
 * Runs an idempotent step on the pooled connection; when the connection drops during it
 * (SshConnectionLostError), reconnects and runs the step again, up to opts.attempts times in all.
 * Only for steps that are safe to repeat: a step that died mid-way may have half-happened.
 * Command failures (non-zero exit), timeouts, auth and host key errors are never retried.
 */
export async function withSshRetry<T>(
  args: SshConnectionArgs,
  step: (client: SshClient) => Promise<T>,
  opts: SshRetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const client = await getSshClient(args, opts);
    try {
      return await step(client);
    } catch (error) {
      if (!isSshConnectionLoss(error) || attempt >= attempts) throw error;
      opts.log?.(
        `ssh ${client.target}: connection lost (attempt ${attempt} of ${attempts}); reconnecting to retry`,
      );
      opts.onRetry?.(error, attempt + 1);
      // A dropped connection is replaced by getSshClient; a refused channel on a live one
      // (e.g. sshd's MaxSessions reached by another process) gets a moment to clear.
      if (client.isConnected) await sleep(RETRY_PAUSE_MS * attempt);
    }
  }
}

const RETRY_PAUSE_MS = 500;

function checkPinnedHostKey(client: SshConnection, args: SshConnectionArgs): void {
  if (!args.hostKey) return;
  const expected = parseOpenSshPublicKey(args.hostKey).blob;
  const presented = parseOpenSshPublicKey(client.hostKey).blob;
  if (!expected.equals(presented)) {
    throw new HostKeyMismatchError(
      client.target,
      fingerprintOfBlob(expected),
      fingerprintOfBlob(presented),
      client.hostKey,
    );
  }
}

// ---- Test seam ---------------------------------------------------------------------------------

/** A fake host for unit tests: the client itself, or how "connecting" to it goes (may throw). */
export type FakeSshHost = SshClient | ((args: SshConnectionArgs) => Promise<SshClient>);

// On globalThis, as the pool: one table however many times the module is loaded.
const FAKES_SYMBOL = Symbol.for("dockfleet.provision.ssh.fakes.v1");

function fakeSshClients(): Map<string, FakeSshHost> | undefined {
  return (globalThis as { [FAKES_SYMBOL]?: Map<string, FakeSshHost> })[FAKES_SYMBOL];
}

/**
 * For unit tests only: until the returned function is called, getSshClient and withSshRetry
 * connect to no host and hand out the fake registered for "host:port" (port 22 when the
 * connection args have none); a host without a fake is refused, so that a test never reaches a
 * real one. With no fakes registered (production), nothing changes.
 */
export function useFakeSshClients(fakes: Record<string, FakeSshHost>): () => void {
  const holder = globalThis as { [FAKES_SYMBOL]?: Map<string, FakeSshHost> };
  const previous = holder[FAKES_SYMBOL];
  const table = new Map(Object.entries(fakes));
  holder[FAKES_SYMBOL] = table;
  return () => {
    if (holder[FAKES_SYMBOL] === table) holder[FAKES_SYMBOL] = previous;
  };
}

async function connectFake(
  fakes: Map<string, FakeSshHost>,
  args: SshConnectionArgs,
): Promise<SshClient> {
  const address = `${args.host}:${args.port ?? 22}`;
  const fake = fakes.get(address);
  if (fake === undefined) {
    throw new Error(
      `ssh ${address}: no fake SSH client registered for it (useFakeSshClients has ` +
        `${[...fakes.keys()].join(", ") || "none"})`,
    );
  }
  return typeof fake === "function" ? fake(args) : fake;
}
