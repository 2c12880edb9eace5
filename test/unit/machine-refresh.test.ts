import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QemuDriverConfig } from "../../components/machines/config";
import { readWhileThere } from "../../components/machines/refresh";
import { planQemuNetwork, planQemuVms } from "../../components/machines/qemu/plan";
import { qemuVmProvider } from "../../components/machines/qemu/vm";

/**
 * What `pulumi refresh` does with a host made behind dockfleet's back: dropped from the state when
 * it is gone (the next up makes it again), kept otherwise. Real VMs: test/e2e/qemu.test.ts; a
 * removed host container: test/e2e/faults.test.ts.
 */

describe("readWhileThere", () => {
  it("keeps what is there, drops what is gone or was never read", async () => {
    const props = { name: "host-1" };
    assert.deepEqual(await readWhileThere("id-1", props, () => true), { id: "id-1", props });
    assert.deepEqual(await readWhileThere("id-1", props, async () => false), { id: "" });
    assert.deepEqual(
      await readWhileThere<typeof props>("id-1", undefined, () => true),
      { id: "" },
      "no state to check",
    );
  });
});

describe("a qemu VM on refresh", () => {
  const stack = "refresh";
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-qemu-refresh-"));
  const config = QemuDriverConfig.parse({ workDir: root });
  const [vm] = planQemuVms({ stack, count: 1, namePrefix: "vm", config });
  const inputs = {
    vm,
    network: planQemuNetwork(stack, config.subnet),
    imageDir: "/images/abc",
    accelerator: config.accelerator,
    authorizedKey: "ssh-ed25519 AAAAenvironment",
    privateKey: "PRIVATE",
    logUrn: "urn:log",
  };
  const outputs = {
    ...inputs,
    acceleratorUsed: "tcg",
    hostPrivateKey: "HOST PRIVATE",
    hostPublicKey: "ssh-ed25519 AAAAhost",
  };

  it("is dropped when its QEMU was killed, kept when it was stopped through dockfleet", async () => {
    try {
      fs.mkdirSync(vm.dir, { recursive: true });
      fs.writeFileSync(path.join(vm.dir, "disk.qcow2"), "");
      // The pid of a process that has exited: what kill -9 leaves behind.
      const exited = spawnSync(process.execPath, ["-e", ""]).pid;
      fs.writeFileSync(path.join(vm.dir, "qemu.pid"), `${exited}\n`);
      assert.deepEqual(await qemuVmProvider.read!(vm.dir, outputs), { id: "" });
      fs.writeFileSync(path.join(vm.dir, "stopped"), "");
      assert.deepEqual(await qemuVmProvider.read!(vm.dir, outputs), {
        id: vm.dir,
        props: outputs,
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("keeps its host key across diffs: the key is made with the VM, not an input", async () => {
    assert.deepEqual(await qemuVmProvider.diff!(vm.dir, outputs, inputs), {
      changes: false,
      replaces: [],
      deleteBeforeReplace: true,
    });
    assert.deepEqual(
      (await qemuVmProvider.diff!(vm.dir, outputs, { ...inputs, imageDir: "/images/def" }))
        .replaces,
      ["imageDir"],
    );
  });
});
