import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { pendingOperations } from "../../components/stack/pending-operations";
import { docker, dockerExec, runCommand, waitFor } from "../helpers/docker";
import {
  assertNothingChanged,
  openStack,
  removeStackCompletely,
  ROOT,
  writeStackConfig,
} from "../helpers/stack";

/**
 * Time bounds and interrupted `up`s, on one real local host: the Docker install past a short
 * configured bound (waiting for the package manager's lock, which another process holds) fails
 * naming host, step and what it waited for, with nothing of it left running; `bin/up` killed
 * with SIGKILL (the whole process tree, as a cancelled CI job) and then interrupted with SIGINT
 * (Ctrl-C) during "install docker"; the next `bin/up` converges: Docker answers over TLS with the
 * client certificate and a further `up` changes nothing.
 */

const STACK = `bounds${process.pid}`;
const SUBNET = "172.30.90.0/24";
const CONFIG = { hosts: 1, local: { subnet: SUBNET } };
const container = localResourceNames(STACK, "host-1").container;

/**
 * Perl that takes dpkg's frontend lock the way apt does (an fcntl write lock; struct flock on
 * x86-64) and keeps it for a minute: another install in progress, to apt.
 */
const HOLD_DPKG_LOCK =
  'open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die $!; ' +
  'my $lock = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); ' +
  "fcntl($f, F_SETLKW, $lock) or die $!; sleep 60";

/** A running `bash bin/up STACK`, in a process group of its own (as a terminal's job). */
interface UpRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startBinUp(clientFiles: string): UpRun {
  let output = "";
  const child = spawn("bash", [path.join(ROOT, "bin", "up"), STACK], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, DOCKFLEET_HOME: clientFiles },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exited };
}

/** Every process below `pid` on this machine (Pulumi runs its plugins in groups of their own). */
async function descendants(pid: number): Promise<number[]> {
  const listed = await runCommand("ps", ["-e", "-o", "pid=,ppid="]);
  const parentOf = new Map(
    listed.stdout
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]),
  );
  const below = (candidate: number): boolean => {
    for (let up = parentOf.get(candidate); up !== undefined && up > 1; up = parentOf.get(up)) {
      if (up === pid) return true;
    }
    return false;
  };
  return [...parentOf.keys()].filter(below);
}

/**
 * Polls until a process matching `pattern` (pgrep -f) runs on the host that started less than
 * `youngerThanS` seconds ago: the install of this `up`, not one a killed `up` left running.
 */
function waitForInstallProcess(pattern: string, youngerThanS: () => number): Promise<true> {
  return waitFor(
    `a process matching "${pattern}" on host-1`,
    async () => {
      const found = await runCommand("docker", [
        "exec",
        container,
        "sh",
        "-c",
        `for pid in $(pgrep -f '${pattern}'); do ps -o etimes= -p "$pid"; done`,
      ]);
      const ages = found.stdout.trim().split(/\s+/).filter(Boolean).map(Number);
      return ages.some((age) => age < youngerThanS()) ? true : undefined;
    },
    300_000,
    200,
  );
}

/** The state's pending operations, as `pulumi stack export` shows them. */
async function pendingIn(stack: Stack) {
  return pendingOperations(await stack.exportStack());
}

describe("time bounds and interrupted ups", { timeout: 20 * 60_000 }, () => {
  let stack: Stack | undefined;
  const clientFiles = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-bounds-"));
  /** Processes a killed `up` may have left (killed again, by id, at the end). */
  const leftovers: number[] = [];

  before(async () => {
    writeStackConfig(STACK, { ...CONFIG, stepTimeouts: { install: 5 } });
    stack = await openStack(STACK);
  });

  after(async () => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await removeStackCompletely(stack, STACK);
    fs.rmSync(clientFiles, { recursive: true, force: true });
  });

  it("the Docker install past a 5 s bound fails naming host, step and what it waited for", async (t) => {
    // An install alone may finish within 5 s on a quiet machine. So, as when unattended-upgrades
    // runs: the host exists (this up stops before the install), another process holds the
    // package manager's lock, and the install waits for it past its bound.
    const { envVars } = stack!.workspace as LocalWorkspace;
    envVars.DOCKFLEET_FAIL_STEP = "host-1:install docker";
    await assert.rejects(stack!.up(), /injected failure/);
    delete envVars.DOCKFLEET_FAIL_STEP;
    await docker(["exec", "--detach", container, "perl", "-MFcntl", "-e", HOLD_DPKG_LOCK]);
    await waitFor(
      "the lock holder on host-1",
      async () =>
        (await dockerExec(container, "pgrep -f 'dpkg/lock-fronten[d]' || true")).trim()
          ? true
          : undefined,
      10_000,
    );
    let output = "";
    await assert.rejects(stack!.up({ onOutput: (line) => (output += line) }), (error: Error) => {
      const said = `${error.message}\n${output}`;
      const match = said.match(
        /host-1: step "install docker" did not finish within 5 s; it was waiting for: (.+)/,
      );
      assert.ok(match, said);
      t.diagnostic(match[0]);
      // What the script was doing then, from the host's process list and its last line.
      assert.match(match[1], /waiting for \/var\/lib\/dpkg\/lock-frontend held by perl/, said);
      assert.ok(said.includes("raise dockfleet:stepTimeouts.install"), said);
      return true;
    });
    // The step's processes were killed: nothing of the install runs on after the error.
    // (The brackets keep pgrep from matching the shell that runs it.)
    const running = await dockerExec(
      container,
      "pgrep -af '^apt-ge[t] |^/usr/bin/dpk[g] ' || true",
    );
    assert.equal(running.trim(), "", `still running on host-1:\n${running}`);
    await dockerExec(container, "pkill -f 'dpkg/lock-fronten[d]' || true");
  });

  it("bin/up killed with SIGKILL during the install: the next bin/up clears what it left", async () => {
    writeStackConfig(STACK, CONFIG);
    const run = startBinUp(clientFiles);
    const started = Date.now();
    try {
      // Any dpkg of this up: apt's (`--status-fd`), or the `dpkg --configure -a` that finishes
      // what the time-bounded install left, which may already have unpacked everything.
      await waitForInstallProcess("(^|/)dpkg ", () => (Date.now() - started) / 1000);
    } finally {
      // The whole tree, as a cancelled CI job: bin/up, pulumi and its plugins.
      const tree = await descendants(run.child.pid!);
      leftovers.push(...tree);
      process.kill(-run.child.pid!, "SIGKILL");
      for (const pid of tree) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    const exited = await run.exited;
    assert.equal(exited.signal, "SIGKILL", run.output());
    const pending = await pendingIn(stack!);
    assert.ok(
      pending.some(
        (operation) =>
          operation.type === "creating" && operation.resourceType.endsWith(":DockerInstall"),
      ),
      `no pending create of the install: ${JSON.stringify(pending)}`,
    );
  });

  it("bin/up interrupted with SIGINT during the install: it finishes what runs and stops cleanly", async (t) => {
    const run = startBinUp(clientFiles);
    try {
      // It first clears what the killed up left: its lock and the pending create; then pulumi
      // creates the install again.
      const reached = await waitFor(
        "pulumi up to start the Docker install",
        async () => {
          if (/pulumi up --stack[^]*DockerInstall \S+ creating/.test(run.output()))
            return "install";
          if (run.child.exitCode !== null || run.child.signalCode !== null) return "exit";
          // On a timeout, waitFor reports this: what bin/up had said by then.
          throw new Error(`bin/up has said so far:\n${run.output()}`);
        },
        300_000,
        100,
      );
      assert.equal(reached, "install", `bin/up ended before the install:\n${run.output()}`);
      assert.match(run.output(), /removing the lock of a pulumi that was killed/);
      assert.match(run.output(), /safe to run again: clearing them from the state/);
    } finally {
      // Ctrl-C in a terminal: SIGINT to the job's process group (unless it already ended).
      if (run.child.exitCode === null && run.child.signalCode === null) {
        process.kill(-run.child.pid!, "SIGINT");
      }
    }
    const exited = await run.exited;
    assert.equal(exited.code, 130, run.output());
    assert.match(run.output(), new RegExp(`run bin/up ${STACK} again to continue`));
    for (const line of run.output().split("\n")) {
      if (/^dockfleet: |\^C received|interrupted after|dpkg was interrupted/.test(line)) {
        t.diagnostic(line.trim());
      }
    }
    // Pulumi let the install finish and recorded it: nothing is left pending.
    assert.deepEqual(await pendingIn(stack!), [], run.output());
  });

  it("the next bin/up converges: Docker answers over TLS, a further up changes nothing", async () => {
    const run = startBinUp(clientFiles);
    const exited = await run.exited;
    assert.equal(exited.code, 0, run.output());
    // The client files bin/up wrote reach the Docker API with the client certificate.
    const files = path.join(clientFiles, STACK);
    const version = await runCommand("docker", [
      "--tlsverify",
      `--tlscacert=${files}/ca.pem`,
      `--tlscert=${files}/cert.pem`,
      `--tlskey=${files}/key.pem`,
      `--host=tcp://${SUBNET.replace(/0\/24$/, "10")}:2376`,
      "version",
      "--format",
      "{{.Server.Version}}",
    ]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+/);
    // The host is as a clean run leaves it: packages complete, no policy-rc.d, Docker enabled.
    const host = await dockerExec(
      container,
      "dpkg --audit; ls /usr/sbin/policy-rc.d 2>/dev/null; " +
        "dpkg-query -W -f='${Status}\\n' docker.io; systemctl is-enabled docker; systemctl is-active docker",
    );
    assert.equal(host.trim(), "install ok installed\nenabled\nactive");
    assert.deepEqual(await pendingIn(stack!), []);
    assertNothingChanged(await stack!.up());
  });
});
