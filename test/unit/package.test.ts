import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

/**
 * The package as `npm publish` would ship it, from `npm pack` (dist/ is built first by bin/test):
 * what is in it, and that it works from a consumer's node_modules with no TypeScript sources and
 * no tsx, the library and the compiled CLI alike.
 */

const ROOT = path.resolve(__dirname, "..", "..");
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  private?: boolean;
  license: string;
  devDependencies: Record<string, string>;
};

/** `npm pack`'s file list; scripts are not run (bin/test has built dist/ already). */
function packedFiles(): string[] {
  const json = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return (JSON.parse(json) as { files: { path: string }[] }[])[0].files.map((file) => file.path);
}

/** Every file under `dir` (relative to ROOT) whose name matches. */
function filesUnder(dir: string, name: RegExp): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && name.test(entry.name))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(path.sep).includes("node_modules"));
}

describe("the published package", () => {
  let files: string[] = [];
  let consumer = "";

  before(() => {
    assert.ok(
      fs.existsSync(path.join(ROOT, "dist", "cli", "main.js")),
      "dist/ is built (npm run build)",
    );
    files = packedFiles();
  });

  after(() => {
    if (consumer !== "") fs.rmSync(consumer, { recursive: true, force: true });
  });

  it("is publishable: not private, a semver version with its CHANGELOG entry, a license", () => {
    assert.equal(manifest.private, undefined);
    assert.match(manifest.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    const changelog = fs.readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8");
    assert.match(changelog, new RegExp(`^## ${manifest.version.replace(/\./g, "\\.")} \\(`, "m"));
    assert.match(
      fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8"),
      /Apache License\s+Version 2\.0/,
    );
    assert.equal(manifest.license, "Apache-2.0");
  });

  it("ships the library, the compiled CLI and every script they read; no sources, tests or state", () => {
    for (const wanted of [
      "package.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
      "bin/dockfleet",
      "dist/components/index.js",
      "dist/components/index.d.ts",
      "dist/cli/main.js",
    ]) {
      assert.ok(files.includes(wanted), `${wanted} is not in the package`);
    }
    // The remote scripts and signing keys are read next to the compiled module that sends them.
    for (const script of [
      ...filesUnder("components", /\.(sh|asc)$/),
      ...filesUnder("provision/scripts", /\.sh$/),
    ]) {
      assert.ok(files.includes(`dist/${script}`), `dist/${script} is not in the package`);
    }
    const unwanted = files.filter(
      (file) =>
        /^(test|bench|stacks|docs|examples|\.dockfleet|node_modules)\//.test(file) ||
        (file.endsWith(".ts") && !file.endsWith(".d.ts")),
    );
    assert.deepEqual(unwanted, []);
    // Every relative require of the compiled code finds its file in the package.
    const shipped = new Set(files);
    const missing: string[] = [];
    for (const file of files.filter((name) => name.startsWith("dist/") && name.endsWith(".js"))) {
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      for (const [, specifier] of text.matchAll(/require\("(\.{1,2}\/[^"]*)"\)/g)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
        const candidates = [target, `${target}.js`, `${target}/index.js`, `${target}.json`];
        if (!candidates.some((candidate) => shipped.has(candidate))) {
          missing.push(`${file} requires ${specifier}`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  it("works from a consumer's node_modules without TypeScript: the library and the CLI", () => {
    consumer = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-consumer-"));
    const tarball = execFileSync(
      "npm",
      ["pack", "--ignore-scripts", "--pack-destination", consumer, "--silent"],
      { cwd: ROOT, encoding: "utf8" },
    ).trim();
    const installed = path.join(consumer, "node_modules", "dockfleet");
    fs.mkdirSync(installed, { recursive: true });
    execFileSync("tar", [
      "-xzf",
      path.join(consumer, tarball),
      "-C",
      installed,
      "--strip-components=1",
    ]);
    // The runtime dependencies, as npm would install them beside it; no tsx, no dev tools.
    const development = new Set([...Object.keys(manifest.devDependencies), "@types", "@eslint"]);
    for (const entry of fs.readdirSync(path.join(ROOT, "node_modules"))) {
      if (development.has(entry) || entry.startsWith(".")) continue;
      fs.symlinkSync(
        path.join(ROOT, "node_modules", entry),
        path.join(consumer, "node_modules", entry),
      );
    }
    assert.ok(!fs.existsSync(path.join(consumer, "node_modules", "tsx")));

    const run = (args: string[]) =>
      execFileSync("node", args, {
        cwd: consumer,
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: "" },
      });
    const library = run([
      "-e",
      'const d = require("dockfleet"); console.log([d.DockerEngine, d.SwarmCluster, d.EtcdCluster, d.PrivateRegistry].map((c) => typeof c).join(","))',
    ]);
    assert.equal(library.trim(), "function,function,function,function");
    const help = run([path.join(installed, "dist", "cli", "main.js"), "--help"]);
    assert.match(help, /^Usage: dockfleet /);
    assert.match(help, /\bls\b[^]*\bscp\b[^]*\bstop\b/);
  });
});
