import { createHash } from "node:crypto";
import * as path from "node:path";
import { parseIpv4Cidr, type VirtualBoxDriverConfig } from "../config";
import { renderCloudConfig } from "../cloud/cloud-init";

/**
 * The virtualbox driver's plan: every VBoxManage command (and the few steps around them) that
 * creates and destroys an environment's VMs, worked out as data before anything runs. The
 * provider only executes a plan; the unit test pins it against a recorded expectation.
 */

/** One step of a plan. */
export type VirtualBoxStep =
  | {
      kind: "vboxmanage";
      args: string[];
      /** Why, in a few words (shown as progress). */
      purpose: string;
      /** A failure is expected in some states (powering off a VM that is off) and ignored. */
      ignoreFailure?: boolean;
      /** Run only when this host-only interface does not exist yet. */
      onlyIfAdapterMissing?: string;
      /** Retry failures this long (VirtualBox keeps a VM locked a moment after poweroff). */
      retryForSeconds?: number;
    }
  | {
      kind: "seed-iso";
      /** Where the NoCloud seed (volume label "cidata") is written. */
      path: string;
      files: Record<"user-data" | "meta-data" | "network-config", string>;
      purpose: string;
    }
  | { kind: "wait-for-ssh"; address: string; port: number; timeoutSeconds: number; purpose: string }
  | { kind: "remove-path"; path: string; purpose: string };

/** One planned VM: who it is and how it is reached. */
export interface PlannedVirtualBoxVm {
  /** Host name ("host-1"). */
  host: string;
  /** The VirtualBox VM name: unique per stack, so stacks never collide. */
  vmName: string;
  /** Fixed address on the host-only network (private and operator address). */
  ipv4Address: string;
  /** 127.0.0.1:<sshPort> is forwarded to the VM's port 22 over NAT. */
  sshPort: number;
  natMacAddress: string;
  hostOnlyMacAddress: string;
  seedIsoPath: string;
}

export interface VirtualBoxPlanArgs {
  stack: string;
  count: number;
  namePrefix: string;
  /** The validated `dockfleet:virtualbox` settings, with image and workDir as absolute paths. */
  config: VirtualBoxDriverConfig;
}

export const SSH_WAIT_SECONDS = 300;

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

/** The host-only network's host address (.1) and netmask, from its CIDR. */
export function hostOnlyAddressing(cidr: string): {
  hostAddress: string;
  netmask: string;
  prefix: number;
  base: number;
} {
  const parsed = parseIpv4Cidr(cidr);
  if (parsed === undefined) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const netmask = formatIpv4(parsed.prefix === 0 ? 0 : (0xffffffff << (32 - parsed.prefix)) >>> 0);
  return {
    hostAddress: formatIpv4(parsed.base + 1),
    netmask,
    prefix: parsed.prefix,
    base: parsed.base,
  };
}

/** A locally administered-looking MAC in VirtualBox's 08:00:27 range, stable per stack and host. */
export function virtualBoxMacAddress(stack: string, host: string, nic: number): string {
  const digest = createHash("sha256").update(`${stack}/${host}/nic${nic}`).digest("hex");
  return `080027${digest.slice(0, 6)}`.toUpperCase();
}

function colonMac(mac: string): string {
  return mac.toLowerCase().match(/../g)!.join(":");
}

/** Pure: the VirtualBox VM name of a host: unique per stack, so stacks never collide. */
export function virtualBoxVmName(stack: string, host: string): string {
  return `dockfleet-${stack}-${host}`;
}

/** Pure: every VM's name, addresses, port and MACs. */
export function planVirtualBoxVms(args: VirtualBoxPlanArgs): PlannedVirtualBoxVm[] {
  const { base, prefix } = hostOnlyAddressing(args.config.hostOnlyCidr);
  const room = 2 ** (32 - prefix) - 11;
  if (args.count > room) {
    throw new Error(
      `dockfleet:virtualbox.hostOnlyCidr ${args.config.hostOnlyCidr} holds ${Math.max(0, room)} VMs from .10 on, not ${args.count}`,
    );
  }
  return Array.from({ length: args.count }, (_, index) => {
    const host = `${args.namePrefix}-${index + 1}`;
    const vmName = virtualBoxVmName(args.stack, host);
    return {
      host,
      vmName,
      ipv4Address: formatIpv4(base + 10 + index),
      sshPort: args.config.sshPortBase + index,
      natMacAddress: virtualBoxMacAddress(args.stack, host, 1),
      hostOnlyMacAddress: virtualBoxMacAddress(args.stack, host, 2),
      seedIsoPath: path.join(args.config.workDir, vmName, "seed.iso"),
    };
  });
}

/** Pure: the cloud-init NoCloud seed of one VM: root's key, host name, both NICs by MAC. */
export function renderVirtualBoxSeed(
  vm: PlannedVirtualBoxVm,
  hostOnlyCidr: string,
  authorizedKey: string,
): Record<"user-data" | "meta-data" | "network-config", string> {
  const { prefix } = hostOnlyAddressing(hostOnlyCidr);
  const network = {
    version: 2,
    ethernets: {
      nat: { match: { macaddress: colonMac(vm.natMacAddress) }, "set-name": "nat0", dhcp4: true },
      hostonly: {
        match: { macaddress: colonMac(vm.hostOnlyMacAddress) },
        "set-name": "hostonly0",
        dhcp4: false,
        addresses: [`${vm.ipv4Address}/${prefix}`],
      },
    },
  };
  return {
    "user-data": renderCloudConfig({
      allowRootKeyLogin: true,
      rootAuthorizedKeys: [authorizedKey.trim()],
      hostname: vm.host,
    }),
    "meta-data": `${JSON.stringify({ "instance-id": vm.vmName, "local-hostname": vm.host }, null, 2)}\n`,
    "network-config": `${JSON.stringify(network, null, 2)}\n`,
  };
}

/** Pure: the steps that make the host-only network ready (it is kept on destroy: see docs). */
export function planHostOnlyNetworkCreate(
  config: Pick<VirtualBoxDriverConfig, "hostOnlyAdapter" | "hostOnlyCidr">,
): VirtualBoxStep[] {
  const { hostAddress, netmask } = hostOnlyAddressing(config.hostOnlyCidr);
  return [
    {
      kind: "vboxmanage",
      args: ["hostonlyif", "create"],
      purpose: `create host-only interface ${config.hostOnlyAdapter}`,
      onlyIfAdapterMissing: config.hostOnlyAdapter,
    },
    {
      kind: "vboxmanage",
      args: [
        "hostonlyif",
        "ipconfig",
        config.hostOnlyAdapter,
        "--ip",
        hostAddress,
        "--netmask",
        netmask,
      ],
      purpose: `address ${config.hostOnlyAdapter} as ${hostAddress}/${netmask}`,
    },
  ];
}

/** Pure: import, configure, seed, start headless, wait for SSH. */
export function planVirtualBoxVmCreate(
  vm: PlannedVirtualBoxVm,
  config: VirtualBoxDriverConfig,
  authorizedKey: string,
): VirtualBoxStep[] {
  return [
    {
      kind: "seed-iso",
      path: vm.seedIsoPath,
      files: renderVirtualBoxSeed(vm, config.hostOnlyCidr, authorizedKey),
      purpose: "write the cloud-init seed",
    },
    {
      kind: "vboxmanage",
      args: [
        "import",
        config.image,
        "--vsys",
        "0",
        "--vmname",
        vm.vmName,
        "--basefolder",
        config.workDir,
      ],
      purpose: "import the base image",
    },
    {
      kind: "vboxmanage",
      // prettier-ignore
      args: [
        "modifyvm", vm.vmName,
        "--memory", String(config.memoryMb),
        "--cpus", String(config.cpus),
        "--nic1", "nat",
        "--macaddress1", vm.natMacAddress,
        "--natdnshostresolver1", "on",
        "--natpf1", `ssh,tcp,127.0.0.1,${vm.sshPort},,22`,
        "--nic2", "hostonly",
        "--hostonlyadapter2", config.hostOnlyAdapter,
        "--macaddress2", vm.hostOnlyMacAddress,
      ],
      purpose: "set memory, CPUs, NAT with SSH forward, host-only NIC",
    },
    {
      kind: "vboxmanage",
      // prettier-ignore
      args: [
        "storageattach", vm.vmName,
        "--storagectl", config.storageController,
        "--port", "1",
        "--device", "0",
        "--type", "dvddrive",
        "--medium", vm.seedIsoPath,
      ],
      purpose: "attach the cloud-init seed",
    },
    {
      kind: "vboxmanage",
      args: ["startvm", vm.vmName, "--type", "headless"],
      purpose: "start headless",
    },
    {
      kind: "wait-for-ssh",
      address: "127.0.0.1",
      port: vm.sshPort,
      timeoutSeconds: SSH_WAIT_SECONDS,
      purpose: "wait for SSH",
    },
  ];
}

/** Pure: power off, unregister and delete the VM and its disks, then its seed. */
export function planVirtualBoxVmDestroy(
  vm: Pick<PlannedVirtualBoxVm, "vmName" | "seedIsoPath">,
): VirtualBoxStep[] {
  return [
    {
      kind: "vboxmanage",
      args: ["controlvm", vm.vmName, "poweroff"],
      purpose: "power off",
      ignoreFailure: true,
    },
    {
      kind: "vboxmanage",
      args: ["unregistervm", vm.vmName, "--delete"],
      purpose: "unregister and delete disks",
      retryForSeconds: 30,
    },
    {
      kind: "vboxmanage",
      args: ["closemedium", "dvd", vm.seedIsoPath],
      purpose: "forget the seed ISO",
      ignoreFailure: true,
    },
    { kind: "remove-path", path: path.dirname(vm.seedIsoPath), purpose: "delete the seed" },
  ];
}

/** The whole environment's plan, as the recorded fixture holds it. */
export interface VirtualBoxEnvironmentPlan {
  network: { create: VirtualBoxStep[] };
  vms: { vm: PlannedVirtualBoxVm; create: VirtualBoxStep[]; destroy: VirtualBoxStep[] }[];
}

/** Pure: everything the driver would run for an environment. */
export function planVirtualBoxEnvironment(
  args: VirtualBoxPlanArgs & { authorizedKey: string },
): VirtualBoxEnvironmentPlan {
  return {
    network: { create: planHostOnlyNetworkCreate(args.config) },
    vms: planVirtualBoxVms(args).map((vm) => ({
      vm,
      create: planVirtualBoxVmCreate(vm, args.config, args.authorizedKey),
      destroy: planVirtualBoxVmDestroy(vm),
    })),
  };
}
