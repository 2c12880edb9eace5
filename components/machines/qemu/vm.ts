import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { createStepLog } from "../../../provision/dynamic/log";
import { getSshClient } from "../../../provision/ssh/pool";
import { generateSshKeyPair } from "../../../provision/ssh/keys";
import { readWhileThere } from "../refresh";
import type { QemuDriverConfig } from "../config";
import {
  chooseAccelerator,
  createQemuVm,
  destroyQemuVm,
  ensureQemuNetwork,
  machineNameserver,
  qemuImage,
  qemuNetworkExists,
  qemuVmState,
  removeQemuNetwork,
} from "./qemu";
import { type PlannedQemuNetwork, type PlannedQemuVm, qemuVmFiles, renderQemuSeed } from "./plan";

/** Under emulation a first boot takes minutes on a busy machine. */
const SSH_READY_DEADLINE_MS = 600_000;

function consoleTail(dir: string): string {
  try {
    return fs
      .readFileSync(qemuVmFiles(dir).console, "latin1")
      .trim()
      .split("\n")
      .slice(-20)
      .join("\n");
  } catch {
    return "(no console log)";
  }
}

interface QemuNetworkInputs {
  network: PlannedQemuNetwork;
  logUrn: string;
}

export const qemuNetworkProvider: pulumi.dynamic.ResourceProvider<
  QemuNetworkInputs,
  QemuNetworkInputs
> = {
  async create(inputs) {
    const log = createStepLog(inputs.logUrn, `network ${inputs.network.bridge}`);
    await ensureQemuNetwork(inputs.network);
    log.info(`bridge ${inputs.network.bridge} at ${inputs.network.gatewayCidr}, NAT on`);
    return { id: inputs.network.bridge, outs: inputs };
  },
  async read(id, props) {
    // A bridge removed behind dockfleet's back is made again by the next up.
    return readWhileThere(id, props, (kept) => qemuNetworkExists(kept.network));
  },
  async diff(_id, olds, news) {
    const changed = JSON.stringify(olds.network) !== JSON.stringify(news.network);
    return { changes: changed, replaces: changed ? ["network"] : [], deleteBeforeReplace: true };
  },
  async delete(_id, props) {
    await removeQemuNetwork(props.network);
  },
};

const qemuNetworkSpec = {
  type: "QemuNetwork",
  module: __filename,
  provider: "qemuNetworkProvider",
};

/** The stack's bridge on this machine, with NAT to the outside: the VMs' private network. */
export class QemuNetwork extends DynamicResource {
  constructor(
    name: string,
    args: ResourceArgs<QemuNetworkInputs>,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(qemuNetworkSpec, name, args, opts);
  }
}

interface QemuVmInputs {
  vm: PlannedQemuVm;
  network: PlannedQemuNetwork;
  /** The VM image's folder (bin/lib/vm-image.sh). */
  imageDir: string;
  accelerator: QemuDriverConfig["accelerator"];
  /** The environment's public key, put into root's authorized_keys by the seed. */
  authorizedKey: string;
  /** Used to prove SSH works (with the host key pinned) before the VM is handed on. */
  privateKey: string;
  logUrn: string;
}

interface QemuVmOutputs extends QemuVmInputs {
  /** What the VM runs under: "kvm" or "tcg". */
  acceleratorUsed: string;
  /**
   * The host key generated for this VM when it was made (a VM made again gets a new one): the
   * seed installs it, SSH pins its public half.
   */
  hostPrivateKey: string;
  hostPublicKey: string;
}

export const qemuVmProvider: pulumi.dynamic.ResourceProvider<QemuVmInputs, QemuVmOutputs> = {
  async create(inputs) {
    const { vm } = inputs;
    const log = createStepLog(inputs.logUrn, `${vm.host}: create VM`);
    const started = Date.now();
    const image = qemuImage(inputs.imageDir);
    const { accelerator, reason } = await chooseAccelerator(inputs.accelerator, image.kernel);
    (accelerator === "kvm" ? log.info : log.warn)(`accelerator ${accelerator}: ${reason}`);
    const hostKey = generateSshKeyPair("");
    await createQemuVm({
      vm,
      network: inputs.network,
      image,
      accelerator,
      seed: renderQemuSeed({
        vm,
        network: inputs.network,
        authorizedKey: inputs.authorizedKey,
        hostPrivateKey: hostKey.privateKey,
        hostPublicKey: hostKey.publicKey,
        nameserver: machineNameserver(),
      }),
    });
    log.info(`booting (${vm.dir}/console.log); waiting for SSH at ${vm.ipv4Address}`);
    try {
      await getSshClient(
        {
          host: vm.ipv4Address,
          port: 22,
          user: "root",
          privateKey: inputs.privateKey,
          hostKey: hostKey.publicKey,
        },
        { deadlineMs: SSH_READY_DEADLINE_MS },
      );
    } catch (error) {
      // A failed create is not in the state: nothing would ever remove this VM but this.
      const console = consoleTail(vm.dir);
      await destroyQemuVm(vm.dir, vm.tap);
      throw new Error(`${(error as Error).message}\nthe VM's console ended with:\n${console}`);
    }
    log.info(`ready at ${vm.ipv4Address} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return {
      id: vm.dir,
      outs: {
        ...inputs,
        acceleratorUsed: accelerator,
        hostPrivateKey: hostKey.privateKey,
        hostPublicKey: hostKey.publicKey,
      },
    };
  },
  async read(id, props) {
    // A VM whose QEMU died or was killed behind dockfleet's back (not stopped through it): the
    // next up makes it again with a new host key, and what is installed on it follows.
    return readWhileThere(id, props, (kept) => qemuVmState(kept.vm.dir) !== "gone");
  },
  async diff(_id, olds, news) {
    // Every input shapes the VM or its first boot: any change makes a new VM.
    const keys = ["vm", "network", "imageDir", "accelerator", "authorizedKey"] as const;
    const replaces = keys.filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]));
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async delete(_id, props) {
    const log = createStepLog(props.logUrn, `${props.vm.host}: destroy VM`);
    await destroyQemuVm(props.vm.dir, props.vm.tap);
    log.info(`removed ${props.vm.dir} and tap ${props.vm.tap}`);
  },
};

const qemuVmSpec = {
  type: "QemuVm",
  module: __filename,
  provider: "qemuVmProvider",
  secrets: ["hostPrivateKey", "privateKey"],
  outputs: ["acceleratorUsed", "hostPublicKey", "hostPrivateKey"],
};

/** One QEMU VM: an overlay over the VM image, booted with its seed, answering SSH. */
export class QemuVm extends DynamicResource {
  declare readonly acceleratorUsed: pulumi.Output<string>;
  declare readonly hostPublicKey: pulumi.Output<string>;

  constructor(name: string, args: ResourceArgs<QemuVmInputs>, opts?: pulumi.CustomResourceOptions) {
    super(qemuVmSpec, name, args, opts);
  }
}
