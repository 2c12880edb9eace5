import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  deployEnvironment,
  dynamicType,
  installMocks,
  readStackFile,
  recorded,
  resourcesOf,
  valueOf,
} from "./fixtures/pulumi-mocks";

installMocks("qemutest");

const VM_STACK = path.join(__dirname, "..", "..", "stacks", "Pulumi.vm.yaml");

/** stacks/Pulumi.vm.yaml as deployEnvironment takes it: the settings without `dockfleet:`. */
function vmStackSettings(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(readStackFile(VM_STACK)).map(([key, value]) => [
      key.replace(/^dockfleet:/, ""),
      value,
    ]),
  );
}

describe("qemu driver (Pulumi mocks; real VMs: test/e2e/qemu.test.ts)", () => {
  it("stacks/Pulumi.vm.yaml: three VMs with Docker and a swarm", async () => {
    const { resolveStackConfig } = await import("../../components/stack/config");
    const config = resolveStackConfig(readStackFile(VM_STACK));
    assert.equal(config.driver, "qemu");
    assert.equal(config.hosts, 3);
    assert.equal(config.swarm.enabled, true);
    assert.equal(config.qemu.subnet, "172.30.20.0/24");
  });

  it("pins each VM's host key from the VM itself: a VM made again brings a new key", async () => {
    const environment = await deployEnvironment("vmq", vmStackSettings(), "/images/abc");
    const vms = resourcesOf(dynamicType("QemuVm"), "vmq");
    assert.deepEqual(
      vms.map((vm) => vm.name),
      ["vmq-machines-vm-1", "vmq-machines-vm-2", "vmq-machines-vm-3"],
    );
    assert.ok(
      !recorded.some(
        (resource) => resource.type === dynamicType("SshKeyPair") && /host-key/.test(resource.name),
      ),
      "no host key resource of its own, which would outlive a VM made again",
    );
    for (const [index, engine] of environment.engines.entries()) {
      const address = `172.30.20.${10 + index}`;
      assert.equal(await valueOf(engine.dockerHost), `tcp://${address}:2376`);
      const ssh = await valueOf(engine.machine.ssh);
      assert.equal(ssh.host, address);
      assert.equal(ssh.hostKey, `ssh-ed25519 AAAAvmq-machines-vm-${index + 1}`);
    }
  });
});
