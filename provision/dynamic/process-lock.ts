// On globalThis under a registered symbol, as the SSH pool: one table per provider process, which
// serves every dynamic resource of a deployment.
const LOCKS_SYMBOL = Symbol.for("dockfleet.provision.processLocks.v1");

/**
 * Runs `body` after every earlier body under the same key has settled, in this provider process:
 * Pulumi runs independent resources in parallel, and some steps must not overlap.
 */
export async function withProcessLock<T>(key: string, body: () => Promise<T>): Promise<T> {
  const holder = globalThis as { [LOCKS_SYMBOL]?: Map<string, Promise<unknown>> };
  holder[LOCKS_SYMBOL] ??= new Map();
  const locks = holder[LOCKS_SYMBOL];
  const previous = locks.get(key) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(body);
  const tail = current.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await current;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}
