import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../../provision/dynamic/log";
import { VirtualBoxHostOnlyNetwork, VirtualBoxVm } from "./vm";
import type { VirtualBoxDriverConfig } from "../config";
import { machineAfterFirstContact } from "../first-contact";
import type { Machine } from "../machine";
import { planVirtualBoxVms } from "./plan";
import { type MachineDriver, requireDriverSettings } from "../driver";

export interface VirtualBoxMachinesArgs {
  /** Stack name: in every VM's name, so stacks never collide. */
  stack: string;
  /** How many VMs. */
  count: number;
  /** Hosts are named `<namePrefix>-1` ... */
  namePrefix: string;
  /** The validated `dockfleet:virtualbox` settings (relative paths are taken from `baseDir`). */
  config: VirtualBoxDriverConfig;
  /** Where relative image and workDir paths start. @default process.cwd() (the project) */
  baseDir?: string;
  /** The environment's key pair: the public half goes into the cloud-init seed. */
  sshKey: { publicKey: pulumi.Input<string>; privateKey: pulumi.Input<string> };
}

/** Pure: the config with image and workDir made absolute (VBoxManage runs in another directory). */
export function resolveVirtualBoxPaths(
  config: VirtualBoxDriverConfig,
  baseDir: string,
): VirtualBoxDriverConfig {
  return {
    ...config,
    image: path.resolve(baseDir, config.image),
    workDir: path.resolve(baseDir, config.workDir),
  };
}

/**
 * The virtualbox driver, as docker-machine and Vagrant made VMs: the base image imported per VM,
 * NAT with an SSH forward on 127.0.0.1, a host-only network with a fixed address per VM (the
 * operator's and the other hosts' address), headless. Root's key arrives by a cloud-init seed
 * ISO; the host key is pinned on first contact.
 */
export class VirtualBoxMachines extends pulumi.ComponentResource {
  readonly machines: Machine[];

  constructor(name: string, args: VirtualBoxMachinesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:machines:VirtualBoxMachines", name, {}, opts);
    const config = resolveVirtualBoxPaths(args.config, args.baseDir ?? process.cwd());
    const planned = planVirtualBoxVms({
      stack: args.stack,
      count: args.count,
      namePrefix: args.namePrefix,
      config,
    });
    const network = new VirtualBoxHostOnlyNetwork(
      `${name}-hostonly`,
      {
        config: { hostOnlyAdapter: config.hostOnlyAdapter, hostOnlyCidr: config.hostOnlyCidr },
        logUrn: logUrnOf(this),
      },
      { parent: this },
    );
    this.machines = planned.map((vm): Machine => {
      const created = new VirtualBoxVm(
        `${name}-${vm.host}`,
        { vm, config, authorizedKey: args.sshKey.publicKey, logUrn: logUrnOf(this) },
        { parent: this, dependsOn: [network] },
      );
      // VirtualBox forwards a port on this machine to the VM's SSH (NAT adapter).
      return machineAfterFirstContact(
        this,
        `${name}-${vm.host}-ssh`,
        {
          name: vm.host,
          driver: "virtualbox",
          publicAddress: vm.ipv4Address,
          privateAddress: vm.ipv4Address,
          sshAddress: "127.0.0.1",
          sshPort: vm.sshPort,
          user: "root",
          privateKey: args.sshKey.privateKey,
          labels: { "dockfleet.io/driver": "virtualbox" },
        },
        [created],
      );
    });
    this.registerOutputs({ machines: this.machines.map((machine) => machine.name) });
  }
}

/** The virtualbox driver's contract: `dockfleet:virtualbox`, the environment's generated key. */
export const virtualBoxDriver: MachineDriver = {
  createMachines({ name, parent, stack, settings, generatedKey }) {
    const config = requireDriverSettings("virtualbox", settings.virtualbox);
    const sshKey = generatedKey();
    const created = new VirtualBoxMachines(
      name,
      { stack, count: settings.count, namePrefix: settings.namePrefix, config, sshKey },
      { parent },
    );
    return { machines: created.machines, sshPrivateKey: sshKey.privateKey };
  },
};
