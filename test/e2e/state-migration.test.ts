import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { DOCKER_CLI, removeByLabel, requireHostImage, runCommand } from "../helpers/docker";
import { LOCAL_LABELS } from "../../components/machines/local/run-args";
import { openStack, removeStackCompletely, ROOT, writeStackConfig } from "../helpers/stack";

/**
 * State written by the main of 2026-12-02 (before the regrouping) holds dynamic providers that
 * load their module by that checkout's absolute path. This runs that main's own program for real
 * from a separate worktree, deletes the worktree, and shows that this checkout (another folder,
 * other file layout) cannot refresh the stack until `migrate_stack_state` (bin/lib/pulumi.sh,
 * what bin/up and bin/down run) rewrites the providers, and then refreshes, updates and destroys
 * it with nothing left behind.
 */

/** The last commit whose providers name an absolute path. */
const OLD_MAIN = "b1a620e";
const STACK = `migrate${process.pid}`;

/** One host with Docker: the smallest stack that has remote steps with providers in state. */
const CONFIG = {
  driver: "local",
  hosts: 1,
  local: { subnet: "172.30.44.0/24" },
  etcd: { enabled: false },
  swarm: { enabled: false },
  registry: { enabled: false },
  apps: { enabled: false },
};

function hasCommit(commit: string): boolean {
  try {
    execFileSync("git", ["-C", ROOT, "cat-file", "-e", `${commit}^{commit}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("state written by an older dockfleet in another folder", { timeout: 20 * 60_000 }, () => {
  const oldCheckout = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-old-")), "main");
  let stack: Stack | undefined;

  before(async () => {
    if (!hasCommit(OLD_MAIN)) {
      // Each test then skips, saying why.
      process.stdout.write(
        `this clone lacks ${OLD_MAIN} (a shallow clone?): the old program cannot be run\n`,
      );
      return;
    }
    execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", oldCheckout, OLD_MAIN], {
      stdio: "ignore",
    });
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(oldCheckout, "node_modules"));
    const stackFile = path.join(oldCheckout, "stacks", `Pulumi.${STACK}.yaml`);
    const keys = Object.fromEntries(
      Object.entries(CONFIG).map(([key, value]) => [`dockfleet:${key}`, value]),
    );
    fs.writeFileSync(stackFile, `config: ${JSON.stringify(keys)}\n`);
    const oldStack = await LocalWorkspace.createOrSelectStack(
      { stackName: STACK, workDir: oldCheckout },
      { envVars: { DOCKFLEET_HOST_IMAGE: requireHostImage() } },
    );
    const result = await oldStack.up({ onOutput: (line) => process.stdout.write(line) });
    assert.equal(result.summary.result, "succeeded");
    // This checkout reads the same stack; the old stack file's keys come along.
    writeStackConfig(STACK, CONFIG);
    stack = await openStack(STACK);
  });

  after(async () => {
    await removeStackCompletely(stack, STACK);
    await removeByLabel(STACK).catch(() => undefined);
    fs.rmSync(path.dirname(oldCheckout), { recursive: true, force: true });
    execFileSync("git", ["-C", ROOT, "worktree", "prune"], { stdio: "ignore" });
  });

  it("holds the old checkout's absolute paths, so without migration a refresh from here fails", async (t) => {
    if (stack === undefined) return t.skip(`no old program was run: this clone lacks ${OLD_MAIN}`);
    const exported = JSON.stringify(await stack.exportStack());
    assert.match(exported, new RegExp(`moduleFile: \\\\"${oldCheckout}/provision/providers/`));
    // The old checkout goes away, as a CI runner's or a colleague's folder does.
    execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", oldCheckout], {
      stdio: "ignore",
    });
    await assert.rejects(stack.refresh(), /Cannot find module|no such file/i);
  });

  it("is migrated by migrate_stack_state, then refreshes, updates and destroys from here", async (t) => {
    if (stack === undefined) return t.skip(`no old program was run: this clone lacks ${OLD_MAIN}`);
    const migrate = await runCommand(
      "bash",
      ["-c", 'source bin/lib/setup.sh && migrate_stack_state "$0"', STACK],
      { cwd: ROOT },
    );
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.match(
      migrate.stderr + migrate.stdout,
      /provider reference\(s\) from an older dockfleet/,
    );
    // Every provider in state is today's loader, naming no folder of this machine.
    const providers =
      JSON.stringify(await stack.exportStack()).match(/"__provider":"(?:[^"\\]|\\.)*"/g) ?? [];
    assert.ok(providers.length > 0, "the stack has dynamic resources");
    for (const provider of providers) {
      assert.ok(!provider.includes("moduleFile: "), "no absolute loader is left");
      assert.ok(
        provider.includes("relativeModule"),
        "each loads its module relative to the package",
      );
      assert.ok(
        !provider.includes(ROOT) && !provider.includes(oldCheckout),
        "no folder of this machine",
      );
    }

    const refreshed = await stack.refresh({ onOutput: (line) => process.stdout.write(line) });
    assert.equal(refreshed.summary.result, "succeeded");
    const updated = await stack.up({ onOutput: (line) => process.stdout.write(line) });
    assert.equal(updated.summary.result, "succeeded");
    const counts = (updated.summary.resourceChanges ?? {}) as Record<string, number>;
    for (const kind of ["create", "delete", "replace"]) {
      assert.equal(counts[kind], undefined, `nothing is ${kind}d: ${JSON.stringify(counts)}`);
    }
    const destroyed = await stack.destroy({ onOutput: (line) => process.stdout.write(line) });
    assert.equal(destroyed.summary.result, "succeeded");
    const left = await runCommand(DOCKER_CLI, [
      "ps",
      "-aq",
      "--filter",
      `label=${LOCAL_LABELS.stack}=${STACK}`,
    ]);
    assert.equal(left.stdout.trim(), "", "no container of the stack is left");
  });
});
