import { createHash } from "node:crypto";
import * as path from "node:path";
import { parseIpv4Cidr, type QemuDriverConfig } from "../config";
import { hostOnlyAddressing } from "../virtualbox/plan";
import { renderCloudConfig } from "../cloud/cloud-init";

/**
 * The qemu driver's plan, worked out as data before anything runs: names, addresses and MACs of
 * the network and every VM, QEMU's command line and the seed's files. Unit tests call these
 * directly; qemu.ts only runs what they return.
 */

/** The stack's network: a bridge on this machine, its address the VMs' gateway. */
export interface PlannedQemuNetwork {
  /** Bridge interface name (15 characters at most, as Linux allows). */
  bridge: string;
  /** The bridge's address with prefix ("172.30.20.1/24"). */
  gatewayCidr: string;
  gateway: string;
  subnet: string;
}

/** One planned VM: who it is, where its files are, how it is reached. */
export interface PlannedQemuVm {
  /** Host name ("host-1"). */
  host: string;
  /** Folder of its overlay, seed, console log, pid file and QMP socket. */
  dir: string;
  ipv4Address: string;
  prefix: number;
  macAddress: string;
  /** Its tap interface on the bridge. */
  tap: string;
  cpus: number;
  memoryMb: number;
}

export interface QemuPlanArgs {
  stack: string;
  count: number;
  namePrefix: string;
  /** The validated `dockfleet:qemu` settings, workDir absolute. */
  config: QemuDriverConfig;
}

function shortHash(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

/** Pure: the stack's bridge ("dfq" and a hash of the stack: two stacks never share one). */
export function planQemuNetwork(stack: string, subnet: string): PlannedQemuNetwork {
  const addressing = hostOnlyAddressing(subnet);
  return {
    bridge: `dfq-${shortHash(stack, 8)}`,
    gateway: addressing.hostAddress,
    gatewayCidr: `${addressing.hostAddress}/${addressing.prefix}`,
    subnet,
  };
}

/** Pure: a VM's folder (the snapshot and power commands find a host's VM by it). */
export function qemuVmDir(workDir: string, stack: string, host: string): string {
  return path.join(workDir, stack, host);
}

/** Pure: the stack's VMs, fixed addresses from .10 on, MACs and taps derived from stack and host. */
export function planQemuVms(args: QemuPlanArgs): PlannedQemuVm[] {
  const cidr = parseIpv4Cidr(args.config.subnet);
  if (cidr === undefined) throw new Error(`not an IPv4 CIDR: ${args.config.subnet}`);
  return Array.from({ length: args.count }, (_, index) => {
    const host = `${args.namePrefix}-${index + 1}`;
    const hash = shortHash(`${args.stack}/${host}`, 10);
    return {
      host,
      dir: qemuVmDir(args.config.workDir, args.stack, host),
      ipv4Address: formatIpv4(cidr.base + 10 + index),
      prefix: cidr.prefix,
      // 52:54:00 is QEMU's own prefix: locally administered, never a real card's.
      macAddress: `52:54:00:${hash.slice(0, 2)}:${hash.slice(2, 4)}:${hash.slice(4, 6)}`,
      tap: `dfq-${hash}`.slice(0, 15),
      cpus: args.config.cpus,
      memoryMb: args.config.memoryMb,
    };
  });
}

/** The files of a VM's folder. */
export function qemuVmFiles(dir: string) {
  return {
    overlay: path.join(dir, "disk.qcow2"),
    seed: path.join(dir, "seed.iso"),
    pid: path.join(dir, "qemu.pid"),
    qmp: path.join(dir, "qmp.sock"),
    console: path.join(dir, "console.log"),
    /** QEMU's arguments as last started: `start` runs the same VM again. */
    args: path.join(dir, "qemu-args.json"),
    /** Written by a stop through dockfleet: a VM that is off on purpose, not one that died. */
    stopped: path.join(dir, "stopped"),
  };
}

export type QemuAccelerator = "kvm" | "tcg";

/** Pure: QEMU's arguments for one VM: direct kernel boot, overlay and seed on virtio, tap NIC. */
export function renderQemuArgs(
  vm: PlannedQemuVm,
  image: { kernel: string; initrd: string },
  accelerator: QemuAccelerator,
): string[] {
  const files = qemuVmFiles(vm.dir);
  return [
    ...["-name", `dockfleet-${vm.host},process=dockfleet-${vm.host}`],
    ...["-accel", accelerator, "-cpu", accelerator === "kvm" ? "host" : "max"],
    ...["-smp", String(vm.cpus), "-m", String(vm.memoryMb)],
    ...["-nodefaults", "-display", "none"],
    ...["-kernel", image.kernel, "-initrd", image.initrd],
    ...["-append", "root=/dev/vda rw console=ttyS0 quiet"],
    ...["-drive", `if=virtio,file=${files.overlay},format=qcow2`],
    ...["-drive", `if=virtio,file=${files.seed},format=raw,readonly=on`],
    ...["-netdev", `tap,id=net0,ifname=${vm.tap},script=no,downscript=no`],
    ...["-device", `virtio-net-pci,netdev=net0,mac=${vm.macAddress}`],
    ...["-device", "virtio-rng-pci"],
    ...["-serial", `file:${files.console}`],
    ...["-qmp", `unix:${files.qmp},server=on,wait=off`],
    ...["-pidfile", files.pid, "-daemonize"],
  ];
}

/** Pure: the seed (NoCloud layout: meta-data, user-data) with the files the image's reader applies. */
export function renderQemuSeed(args: {
  vm: PlannedQemuVm;
  network: PlannedQemuNetwork;
  authorizedKey: string;
  hostPrivateKey: string;
  hostPublicKey: string;
  nameserver: string;
}): Record<string, string> {
  const { vm, network } = args;
  return {
    "meta-data": `instance-id: ${path.basename(vm.dir)}-${shortHash(vm.dir, 8)}\nlocal-hostname: ${vm.host}\n`,
    // What cloud-init would apply too (as on the virtualbox driver's images): the seed stays a
    // valid NoCloud seed; the image's own reader takes the dockfleet-* files.
    "user-data": renderCloudConfig({
      allowRootKeyLogin: true,
      rootAuthorizedKeys: [args.authorizedKey.trim()],
      hostname: vm.host,
    }),
    "dockfleet-authorized-keys": `${args.authorizedKey.trim()}\n`,
    "dockfleet-host-key": `${args.hostPrivateKey.trim()}\n`,
    "dockfleet-host-key.pub": `${args.hostPublicKey.trim()}\n`,
    "dockfleet-network": [
      "[Match]",
      `MACAddress=${vm.macAddress}`,
      "",
      "[Network]",
      `Address=${vm.ipv4Address}/${vm.prefix}`,
      `Gateway=${network.gateway}`,
      `DNS=${args.nameserver}`,
      "",
    ].join("\n"),
    "dockfleet-resolv.conf": `nameserver ${args.nameserver}\n`,
  };
}
