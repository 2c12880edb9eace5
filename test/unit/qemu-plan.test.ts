import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QemuDriverConfig } from "../../components/machines/config";
import { checkSnapshotName } from "../../cli/snapshot";
import { destroyQemuVm, qemuVmState } from "../../components/machines/qemu/qemu";
import {
  planQemuNetwork,
  planQemuVms,
  renderQemuArgs,
  renderQemuSeed,
} from "../../components/machines/qemu/plan";

const config = QemuDriverConfig.parse({ subnet: "172.30.20.0/24", cpus: 2, memoryMb: 1536 });
const plan = (stack: string) =>
  planQemuVms({
    stack,
    count: 3,
    namePrefix: "vm",
    config: { ...config, workDir: "/p/.dockfleet/qemu" },
  });

describe("qemu driver plan", () => {
  it("gives VMs fixed addresses from .10, folders per stack and host, unique MACs and taps", () => {
    const vms = plan("dev");
    assert.deepEqual(
      vms.map((vm) => [vm.host, vm.ipv4Address, vm.dir]),
      [
        ["vm-1", "172.30.20.10", "/p/.dockfleet/qemu/dev/vm-1"],
        ["vm-2", "172.30.20.11", "/p/.dockfleet/qemu/dev/vm-2"],
        ["vm-3", "172.30.20.12", "/p/.dockfleet/qemu/dev/vm-3"],
      ],
    );
    const other = plan("prod");
    const macs = [...vms, ...other].map((vm) => vm.macAddress);
    const taps = [...vms, ...other].map((vm) => vm.tap);
    assert.equal(new Set(macs).size, 6, "no two VMs of two stacks share a MAC");
    assert.equal(new Set(taps).size, 6, "nor a tap");
    for (const vm of vms) {
      assert.match(vm.macAddress, /^52:54:00(:[0-9a-f]{2}){3}$/);
      assert.ok(vm.tap.length <= 15, `${vm.tap} fits Linux's interface name limit`);
    }
  });

  it("names the bridge after the stack, its address the subnet's .1", () => {
    const network = planQemuNetwork("dev", "172.30.20.0/24");
    assert.match(network.bridge, /^dfq-[0-9a-f]{8}$/);
    assert.notEqual(network.bridge, planQemuNetwork("prod", "172.30.20.0/24").bridge);
    assert.equal(network.gatewayCidr, "172.30.20.1/24");
  });

  it("boots the kernel directly with the overlay, the read-only seed and a tap NIC", () => {
    const [vm] = plan("dev");
    const args = renderQemuArgs(vm, { kernel: "/img/vmlinuz", initrd: "/img/initrd.img" }, "tcg");
    const joined = args.join(" ");
    assert.ok(joined.includes("-accel tcg -cpu max -smp 2 -m 1536"));
    assert.ok(joined.includes("-kernel /img/vmlinuz -initrd /img/initrd.img"));
    assert.ok(joined.includes(`file=${vm.dir}/disk.qcow2,format=qcow2`));
    assert.ok(joined.includes(`file=${vm.dir}/seed.iso,format=raw,readonly=on`));
    assert.ok(joined.includes(`tap,id=net0,ifname=${vm.tap},script=no`));
    assert.ok(joined.includes(`mac=${vm.macAddress}`));
    assert.ok(
      renderQemuArgs(vm, { kernel: "k", initrd: "i" }, "kvm")
        .join(" ")
        .includes("-accel kvm -cpu host"),
    );
  });

  it("seeds the host name, both keys and the static address, as a NoCloud seed", () => {
    const [vm] = plan("dev");
    const seed = renderQemuSeed({
      vm,
      network: planQemuNetwork("dev", "172.30.20.0/24"),
      authorizedKey: "ssh-ed25519 AAAAuser dockfleet",
      hostPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----",
      hostPublicKey: "ssh-ed25519 AAAAhost",
      nameserver: "10.0.0.53",
    });
    assert.match(seed["meta-data"], /^instance-id: vm-1-[0-9a-f]{8}\nlocal-hostname: vm-1\n$/);
    assert.match(seed["user-data"], /^#cloud-config\n/);
    assert.ok(seed["user-data"].includes("ssh-ed25519 AAAAuser dockfleet"));
    assert.equal(seed["dockfleet-authorized-keys"], "ssh-ed25519 AAAAuser dockfleet\n");
    assert.equal(seed["dockfleet-host-key.pub"], "ssh-ed25519 AAAAhost\n");
    assert.ok(seed["dockfleet-host-key"].endsWith("-----END OPENSSH PRIVATE KEY-----\n"));
    assert.equal(
      seed["dockfleet-network"],
      `[Match]\nMACAddress=${vm.macAddress}\n\n[Network]\nAddress=172.30.20.10/24\nGateway=172.30.20.1\nDNS=10.0.0.53\n`,
    );
    assert.equal(seed["dockfleet-resolv.conf"], "nameserver 10.0.0.53\n");
  });
});

describe("dockfleet snapshot names", () => {
  it("takes names qemu-img keeps as given, refuses the rest", () => {
    assert.equal(checkSnapshotName("before-upgrade.1"), "before-upgrade.1");
    for (const bad of ["", "-x", "two words", "a/b", "x".repeat(65)]) {
      assert.throws(() => checkSnapshotName(bad), /snapshot name/);
    }
  });
});

describe("qemu VM state, as refresh reads it", () => {
  it("is gone without a running QEMU, stopped with dockfleet's marker and the overlay", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-qemu-state-"));
    try {
      assert.equal(qemuVmState(dir), "gone", "an empty folder");
      // A pid file naming a live process that is not this VM's QEMU (this test) is not the VM.
      fs.writeFileSync(path.join(dir, "qemu.pid"), `${process.pid}\n`);
      fs.writeFileSync(path.join(dir, "disk.qcow2"), "");
      assert.equal(qemuVmState(dir), "gone", "killed behind dockfleet's back");
      fs.writeFileSync(path.join(dir, "stopped"), "");
      assert.equal(qemuVmState(dir), "stopped");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("qemu VM destroy", () => {
  it("removes the VM's folder, and the stack's folder with its last VM", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-qemu-destroy-"));
    const stackDir = path.join(root, "dev");
    const [one, two] = [path.join(stackDir, "vm-1"), path.join(stackDir, "vm-2")];
    try {
      for (const dir of [one, two]) {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "disk.qcow2"), "");
      }
      // No QEMU runs and the taps do not exist: only the files are left to remove.
      await destroyQemuVm(one, "dfqunittest1");
      assert.deepEqual(fs.readdirSync(stackDir), ["vm-2"]);
      await destroyQemuVm(two, "dfqunittest2");
      assert.equal(fs.existsSync(stackDir), false, "no empty folder of the stack is left");
      await destroyQemuVm(two, "dfqunittest2");
      assert.deepEqual(fs.readdirSync(root), []);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
