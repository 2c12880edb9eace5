import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

/**
 * The `.ts` hook that the program and the dynamic-provider process load dockfleet through: each
 * file is transpiled once and then read from the cache, and a changed file is transpiled again.
 */

const HOOK = path.resolve(__dirname, "..", "..", "provision", "dynamic", "register-typescript.cjs");

function runTs(file: string, cacheDir: string): string {
  return execFileSync(
    process.execPath,
    ["--require", HOOK, "-e", `require(${JSON.stringify(file)})`],
    {
      env: { ...process.env, DOCKFLEET_TRANSPILE_CACHE: cacheDir },
      encoding: "utf8",
    },
  );
}

describe("register-typescript.cjs", () => {
  it("runs TypeScript, transpiles each version of a file once and reuses the cache", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-ts-hook-"));
    const cacheDir = path.join(dir, "cache");
    const file = path.join(dir, "greeting.ts");
    try {
      fs.writeFileSync(
        file,
        'import * as os from "node:os";\n' +
          "const greet = (name: string): string => `hello ${name}`;\n" +
          "process.stdout.write(greet(typeof os.EOL));\n" +
          "export = greet;\n",
      );
      assert.equal(runTs(file, cacheDir), "hello string");
      const cached = fs.readdirSync(cacheDir);
      assert.equal(cached.length, 1, "one transpiled file in the cache");

      // The second start reads the cache: what is there is what runs.
      const cachedFile = path.join(cacheDir, cached[0]);
      fs.writeFileSync(cachedFile, 'process.stdout.write("from the cache");\n');
      assert.equal(runTs(file, cacheDir), "from the cache");

      // A changed source is transpiled again, under a new key.
      fs.appendFileSync(file, 'process.stdout.write("!");\n');
      assert.equal(runTs(file, cacheDir), "hello string!");
      assert.equal(fs.readdirSync(cacheDir).length, 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
