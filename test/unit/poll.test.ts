import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pollUntil, retryWhile } from "../../provision/dynamic/poll";

class Transient extends Error {}

describe("pollUntil", () => {
  it("returns the first value other than undefined, without waiting after it", async () => {
    let calls = 0;
    let waits = 0;
    const value = await pollUntil(async () => (++calls === 3 ? "ready" : undefined), {
      timeoutMs: 1_000,
      intervalMs: 1,
      onWait: () => waits++,
    });
    assert.equal(value, "ready");
    assert.equal(calls, 3);
    assert.equal(waits, 2);
  });

  it("keeps falsy values other than undefined", async () => {
    assert.equal(await pollUntil(async () => 0, { timeoutMs: 10 }), 0);
    assert.equal(await pollUntil(async () => "", { timeoutMs: 10 }), "");
    assert.equal(await pollUntil(async () => false, { timeoutMs: 10 }), false);
  });

  it("returns undefined after the timeout, having checked once more past it", async () => {
    let calls = 0;
    const started = Date.now();
    const value = await pollUntil(
      async () => {
        calls++;
        return undefined;
      },
      { timeoutMs: 40, intervalMs: 10 },
    );
    assert.equal(value, undefined);
    assert.ok(Date.now() - started >= 40);
    assert.ok(calls >= 2 && calls <= 6, `${calls} checks`);
  });

  it("checks once with no time left, and does not wait then", async () => {
    let calls = 0;
    let waits = 0;
    const value = await pollUntil(
      async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return undefined;
      },
      { timeoutMs: -1, intervalMs: 1_000, onWait: () => waits++ },
    );
    assert.equal(value, undefined);
    assert.deepEqual({ calls, waits }, { calls: 1, waits: 0 });
  });

  it("ends at once on an error thrown by the check", async () => {
    let calls = 0;
    await assert.rejects(
      pollUntil(
        async () => {
          calls++;
          throw new Error("broken");
        },
        { timeoutMs: 1_000, intervalMs: 1 },
      ),
      /broken/,
    );
    assert.equal(calls, 1);
  });
});

describe("retryWhile", () => {
  it("retries a retryable error, telling onRetry, until the run succeeds", async () => {
    let calls = 0;
    const retried: unknown[] = [];
    const value = await retryWhile(
      async () => {
        if (++calls < 3) throw new Transient(`attempt ${calls}`);
        return "done";
      },
      (error) => error instanceof Transient,
      { timeoutMs: 1_000, intervalMs: 1, onRetry: (error) => retried.push(error) },
    );
    assert.equal(value, "done");
    assert.deepEqual(
      retried.map((error) => (error as Error).message),
      ["attempt 1", "attempt 2"],
    );
  });

  it("throws any other error at once", async () => {
    let calls = 0;
    await assert.rejects(
      retryWhile(
        async () => {
          calls++;
          throw new Error("permanent");
        },
        (error) => error instanceof Transient,
        { timeoutMs: 1_000, intervalMs: 1 },
      ),
      /permanent/,
    );
    assert.equal(calls, 1);
  });

  it("throws the last retryable error after the timeout", async () => {
    let calls = 0;
    await assert.rejects(
      retryWhile(
        async () => {
          throw new Transient(`attempt ${++calls}`);
        },
        (error) => error instanceof Transient,
        { timeoutMs: 30, intervalMs: 10 },
      ),
      (error: unknown) => error instanceof Transient && error.message === `attempt ${calls}`,
    );
    assert.ok(calls >= 2, `${calls} attempts`);
  });
});
