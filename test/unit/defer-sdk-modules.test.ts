import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";

/**
 * The SDK modules dockfleet's processes never use are not loaded with the SDK, and still load
 * (and work) the moment something uses them.
 */

const HOOK = path.resolve(__dirname, "..", "..", "provision", "dynamic", "defer-sdk-modules.cjs");

const PROBE = `
const loaded = () => Object.keys(require.cache).filter((file) =>
  /node_modules\\/(typescript\\/lib\\/typescript\\.js|@npmcli\\/arborist\\/lib\\/index\\.js)$/.test(file)).length;
const pulumi = require("@pulumi/pulumi");
const before = loaded();
pulumi.runtime.serializeFunction(() => 42).then((serialized) => {
  process.stdout.write(JSON.stringify({ before, after: loaded(), works: serialized.text.includes("42") }));
});
`;

function probe(args: string[]): { before: number; after: number; works: boolean } {
  const output = execFileSync(process.execPath, [...args, "-e", PROBE], {
    cwd: path.resolve(__dirname, "..", ".."),
    env: { ...process.env, NODE_OPTIONS: "" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return JSON.parse(output);
}

describe("defer-sdk-modules.cjs", () => {
  it("keeps TypeScript and arborist out of the SDK's start, and loads them when used", () => {
    assert.deepEqual(probe([]), { before: 2, after: 2, works: true }, "without the hook");
    const deferred = probe(["--require", HOOK]);
    assert.equal(deferred.before, 0, "neither is loaded with @pulumi/pulumi");
    assert.ok(deferred.after >= 1, "the closure serializer loaded TypeScript when it needed it");
    assert.equal(deferred.works, true);
  });
});
