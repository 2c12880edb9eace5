import { setTimeout as sleep } from "node:timers/promises";

/**
 * Waiting on a remote host: dynamic providers poll for a state (a node ready, a service
 * converged, etcd healthy) and run commands again while the host answers with a transient
 * error. One loop here, so each provider says only what it checks, how long it waits and what
 * it tells the operator; the timeout and the error text stay the caller's.
 */

export interface PollOptions {
  /**
   * How long to keep trying, from the first attempt. Always one attempt at least; the time is
   * checked after each attempt, so a slow last one may end a little past it.
   */
  timeoutMs: number;
  /** The pause between attempts (default 500 ms). */
  intervalMs?: number;
  /** Called before each pause, after an attempt that did not finish: for progress messages. */
  onWait?: () => void;
}

/**
 * Calls `check` until it returns a value other than undefined, and returns that value; returns
 * undefined once `timeoutMs` has passed (the caller decides whether that is an error and words
 * it). An error thrown by `check` ends the wait at once.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  options: PollOptions,
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    options.onWait?.();
    await sleep(options.intervalMs ?? 500);
  }
}

export interface RetryOptions extends Omit<PollOptions, "onWait"> {
  /** Called with the retryable error before each pause: for progress messages. */
  onRetry?: (error: unknown) => void;
}

/**
 * Runs `run` again while it throws an error `isRetryable` accepts, for up to `timeoutMs`; then
 * throws the last error. Any other error is thrown at once.
 */
export async function retryWhile<T>(
  run: () => Promise<T>,
  isRetryable: (error: unknown) => boolean,
  options: RetryOptions,
): Promise<T> {
  let lastError: unknown;
  const done = await pollUntil(
    async () => {
      try {
        return { value: await run() };
      } catch (error) {
        if (!isRetryable(error)) throw error;
        lastError = error;
        return undefined;
      }
    },
    { ...options, onWait: () => options.onRetry?.(lastError) },
  );
  if (done === undefined) throw lastError;
  return done.value;
}
