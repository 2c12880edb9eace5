// The remote scripts share provision/scripts/prelude.sh: readScript sends it ahead of each one,
// no script defines again what it defines, and every prelude + script text parses.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readScript, SCRIPT_PRELUDE_PATH } from "../../provision/dynamic/remote-step";

const ROOT = join(__dirname, "..", "..");
const COMPONENTS = join(ROOT, "components");
const PRELUDE = readFileSync(SCRIPT_PRELUDE_PATH, "utf8");

/** Every component script: componentDir and name, as readScript takes them. */
const SCRIPTS = readdirSync(COMPONENTS, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .flatMap((entry) => {
    const componentDir = join(COMPONENTS, entry.name);
    let names: string[];
    try {
      names = readdirSync(join(componentDir, "scripts"));
    } catch {
      return [];
    }
    return names.filter((name) => name.endsWith(".sh")).map((name) => ({ componentDir, name }));
  });

/** The names of the shell functions a text defines, `name() {` or `name () {` at a line's start. */
function definedFunctions(text: string): string[] {
  return [...text.matchAll(/^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(\)/gm)].map(
    (match) => match[1],
  );
}

describe("the remote scripts' shared prelude", () => {
  it("finds the eight scripts", () => {
    assert.deepEqual(SCRIPTS.map(({ name }) => name).sort(), [
      "apply-docker-config.sh",
      "configure-etcd.sh",
      "ensure-node-exporter.sh",
      "ensure-prometheus.sh",
      "ensure-registry.sh",
      "install-docker.sh",
      "install-etcd.sh",
      "trust-registry.sh",
    ]);
  });

  it("defines the helpers the scripts use", () => {
    const functions = definedFunctions(PRELUDE);
    for (const name of ["log", "die", "print_result", "read_os_release", "package_manager"]) {
      assert.ok(functions.includes(name), `the prelude defines no ${name}()`);
    }
  });

  for (const { componentDir, name } of SCRIPTS) {
    describe(name, () => {
      const own = readFileSync(join(componentDir, "scripts", name), "utf8");
      const sent = readScript(componentDir, name);

      it("is sent as the prelude followed by the script", () => {
        assert.ok(sent.startsWith(PRELUDE), "readScript's text does not start with the prelude");
        assert.equal(sent, PRELUDE + own);
      });

      it("defines none of the prelude's functions again", () => {
        const prelude = new Set(definedFunctions(PRELUDE));
        const again = definedFunctions(own).filter((fn) => prelude.has(fn));
        assert.deepEqual(again, [], `${name} defines again: ${again.join(", ")}`);
      });

      it("parses with bash -n, prelude and script together", () => {
        const result = spawnSync("bash", ["-n"], { input: sent, encoding: "utf8" });
        assert.equal(result.status, 0, result.stderr);
      });
    });
  }

  // trust-registry.sh stops on an empty ADDRESSES before it touches anything: a safe way to see
  // that both ways of running a script reach the prelude's die().
  const expected = /^trust-registry: error: ADDRESSES is empty/m;

  it("runs as a host runs it: readScript's text on bash -s", () => {
    const result = spawnSync("bash", ["-s"], {
      input: readScript(join(COMPONENTS, "registry"), "trust-registry.sh"),
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, expected);
    assert.equal(result.stdout, "");
  });

  it("runs from a checkout, sourcing the prelude beside it", () => {
    const result = spawnSync("bash", [join(COMPONENTS, "registry/scripts/trust-registry.sh")], {
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, expected);
  });
});

/**
 * apt_get with a stand-in dpkg and apt-get first on PATH: dpkg reports unfinished packages while
 * the file "interrupted" exists and `dpkg --configure -a` removes it; apt-get fails once as apt
 * does on an interrupted dpkg while "refuse-once" exists. Returns the commands run, in order.
 */
function aptGetWithStandIns(state: { interrupted: boolean; refuseOnce: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), "dockfleet-prelude-"));
  try {
    const calls = join(dir, "calls");
    writeFileSync(
      join(dir, "dpkg"),
      `#!/bin/bash
if [[ "$1" == --audit ]]; then
  [[ -e "${dir}/interrupted" ]] && echo "The following packages are only half configured:"
  exit 0
fi
echo "dpkg $*" >>"${calls}"
rm -f "${dir}/interrupted"
`,
    );
    writeFileSync(
      join(dir, "apt-get"),
      `#!/bin/bash
echo "apt-get $*" >>"${calls}"
if [[ -e "${dir}/refuse-once" ]]; then
  rm -f "${dir}/refuse-once"
  echo "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem." >&2
  exit 100
fi
`,
    );
    chmodSync(join(dir, "dpkg"), 0o755);
    chmodSync(join(dir, "apt-get"), 0o755);
    if (state.interrupted) writeFileSync(join(dir, "interrupted"), "");
    if (state.refuseOnce) writeFileSync(join(dir, "refuse-once"), "");
    const result = spawnSync(
      "bash",
      ["-c", `set -euo pipefail; ${PRELUDE}\napt_get install curl`],
      {
        encoding: "utf8",
        env: { PATH: `${dir}:${process.env.PATH}`, LOCK_TIMEOUT_SECONDS: "60" },
      },
    );
    assert.equal(result.status, 0, result.stderr);
    return {
      calls: existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [],
      stderr: result.stderr,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the prelude repairs an interrupted dpkg before an apt install", () => {
  const install =
    "apt-get -q -y -o DPkg::Lock::Timeout=60 -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef " +
    "-o Dpkg::Options::=--force-confold install curl";
  const repair = "dpkg --force-confdef --force-confold --configure -a";

  it("installs straight away when dpkg reports nothing unfinished", () => {
    assert.deepEqual(aptGetWithStandIns({ interrupted: false, refuseOnce: false }).calls, [
      install,
    ]);
  });

  it("runs dpkg --configure -a first when dpkg --audit reports unfinished packages", () => {
    const { calls, stderr } = aptGetWithStandIns({ interrupted: true, refuseOnce: false });
    assert.deepEqual(calls, [repair, install]);
    assert.match(stderr, /dpkg was interrupted earlier .*running dpkg --configure -a/);
  });

  it("repairs and runs again when apt says dpkg was interrupted", () => {
    const { calls } = aptGetWithStandIns({ interrupted: false, refuseOnce: true });
    assert.deepEqual(calls, [install, repair, install]);
  });
});
