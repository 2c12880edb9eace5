import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { ArgvWatcher, linesWithSecrets } from "../helpers/argv-watcher";

// The e2e test's watcher must be able to fail: a value on a real process's command line here is
// seen within its 100 ms sampling, and reported without printing it.
describe("ArgvWatcher (this machine's processes)", () => {
  it("sees a short-lived command line and reports the secret on it, masked", async () => {
    const canary = `dockfleet-canary-${process.pid}-${Date.now()}`;
    const watcher = new ArgvWatcher([]);
    watcher.start();
    const child = spawn("sh", ["-c", `sleep 0.5; true ${canary}`]);
    await new Promise((done) => child.on("close", done));
    await sleep(150);
    const { local, hosts } = await watcher.stop();
    assert.equal(hosts.size, 0);
    const found = linesWithSecrets(local, ["not-on-any-command-line-x", canary]);
    assert.equal(found.length, 1, [...local].join("\n"));
    assert.match(
      found[0],
      /a secret \(starting dockfl\.\.\.\) in: sh -c sleep 0\.5; true <secret>/,
    );
    assert.ok(!found[0].includes(canary));
  });
});
