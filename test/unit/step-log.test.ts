import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { createStepLog } from "../../provision/dynamic/log";

interface FakeRequest {
  getMessage(): string;
  getEphemeral(): boolean;
}

const CLIENT_KEY = Symbol.for("dockfleet.engineLogClient");
const cache = globalThis as { [CLIENT_KEY]?: unknown };

describe("createStepLog", () => {
  after(() => delete cache[CLIENT_KEY]);

  it("sends a step's lines one after another, each once the one before has arrived", async () => {
    const sent: string[] = [];
    const pending: ((error: Error | null) => void)[] = [];
    cache[CLIENT_KEY] = {
      log(request: FakeRequest, callback: (error: Error | null) => void) {
        sent.push(`${request.getMessage()}${request.getEphemeral() ? "" : " (lasting)"}`);
        pending.push(callback);
      },
    };
    const log = createStepLog("urn:pulumi:test::p::t::n", "push x to y");
    log.progress("layers 1/2");
    log.progress("layers 2/2");
    log.info("pushed in 1.0 s");
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    await settle();
    assert.deepEqual(sent, ["push x to y: layers 1/2"], "the second waits for the first");
    pending.shift()!(null);
    await settle();
    assert.deepEqual(sent, ["push x to y: layers 1/2", "push x to y: layers 2/2"]);
    // A line the engine answers with an error does not hold up the next.
    pending.shift()!(new Error("14 UNAVAILABLE"));
    await settle();
    assert.deepEqual(sent.at(-1), "push x to y: pushed in 1.0 s (lasting)");
  });
});
