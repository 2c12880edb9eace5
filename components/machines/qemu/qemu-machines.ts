import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../../provision/dynamic/log";
import type { QemuDriverConfig } from "../config";
import type { MachineDriver } from "../driver";
import type { Machine } from "../machine";
import { planQemuNetwork, planQemuVms } from "./plan";
import { QemuNetwork, QemuVm } from "./vm";

/** The label that names a qemu host's folder (in Docker's daemon labels: `docker info` shows it). */
export const QEMU_DIR_LABEL = "dockfleet.io/qemu-dir";

export interface QemuMachinesArgs {
  /** Stack name: in the bridge's name and every VM's folder, so stacks never collide. */
  stack: string;
  count: number;
  namePrefix: string;
  /** The validated `dockfleet:qemu` settings (a relative workDir is taken from `baseDir`). */
  config: QemuDriverConfig;
  /** The VM image's folder (bin/lib/vm-image.sh builds it). */
  imageDir: string;
  /** Where a relative workDir starts. @default process.cwd() (the project) */
  baseDir?: string;
  /** The environment's key pair: the public half goes into every seed. */
  sshKey: { publicKey: pulumi.Input<string>; privateKey: pulumi.Input<string> };
}

/**
 * The qemu driver, as Vagrant's libvirt provider makes VMs on Linux: one copy-on-write overlay per
 * VM over an image built from Debian packages, a bridge of the stack's own with NAT, fixed
 * addresses, a seed that installs root's key and a host key dockfleet generated (pinned from the
 * start: no trust on first use).
 */
export class QemuMachines extends pulumi.ComponentResource {
  readonly machines: Machine[];

  constructor(name: string, args: QemuMachinesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:machines:QemuMachines", name, {}, opts);
    const baseDir = args.baseDir ?? process.cwd();
    const config = { ...args.config, workDir: path.resolve(baseDir, args.config.workDir) };
    const planned = planQemuVms({
      stack: args.stack,
      count: args.count,
      namePrefix: args.namePrefix,
      config,
    });
    const network = planQemuNetwork(args.stack, config.subnet);
    const bridge = new QemuNetwork(
      `${name}-network`,
      { network, logUrn: logUrnOf(this) },
      { parent: this },
    );
    this.machines = planned.map((vm): Machine => {
      const created = new QemuVm(
        `${name}-${vm.host}`,
        {
          vm,
          network,
          imageDir: path.resolve(baseDir, args.imageDir),
          accelerator: config.accelerator,
          authorizedKey: args.sshKey.publicKey,
          privateKey: args.sshKey.privateKey,
          logUrn: logUrnOf(this),
        },
        { parent: this, dependsOn: [bridge] },
      );
      return {
        name: vm.host,
        driver: "qemu",
        publicAddress: pulumi.output(vm.ipv4Address),
        privateAddress: pulumi.output(vm.ipv4Address),
        ssh: pulumi.secret(
          pulumi
            .all([created.hostPublicKey, args.sshKey.privateKey])
            .apply(([hostPublicKey, privateKey]) => ({
              host: vm.ipv4Address,
              port: 22,
              user: "root",
              privateKey,
              hostKey: hostPublicKey,
            })),
        ),
        labels: { "dockfleet.io/driver": "qemu", [QEMU_DIR_LABEL]: vm.dir },
      };
    });
    this.registerOutputs({ machines: this.machines.map((machine) => machine.name) });
  }
}

/** The qemu driver's contract: `dockfleet:qemu`, the environment's generated key, the VM image. */
export const qemuDriver: MachineDriver = {
  createMachines({ name, parent, stack, settings, generatedKey }) {
    if (settings.vmImage === undefined) {
      throw new Error(
        "the qemu driver needs the VM image: run `bin/up <stack>` (it builds it), or set " +
          "DOCKFLEET_VM_IMAGE to the folder printed by `source bin/lib/vm-image.sh && ensure_vm_image`",
      );
    }
    const sshKey = generatedKey();
    const created = new QemuMachines(
      name,
      {
        stack,
        count: settings.count,
        namePrefix: settings.namePrefix,
        config: settings.qemu,
        imageDir: settings.vmImage,
        sshKey,
      },
      { parent },
    );
    return { machines: created.machines, sshPrivateKey: sshKey.privateKey };
  },
};
