import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { commandError, run } from "../commands";
import { writeSeedIso } from "../seed-iso";
import type { QemuDriverConfig } from "../config";
import {
  type PlannedQemuNetwork,
  type PlannedQemuVm,
  type QemuAccelerator,
  qemuVmFiles,
  renderQemuArgs,
} from "./plan";

/**
 * What touches this machine for the qemu driver: the bridge and its NAT, taps, QEMU processes,
 * qcow2 overlays and snapshots. The power and snapshot functions take a VM's folder only, so that
 * CLI commands (dockfleet snapshot, stop/start) call them with what the stack's state holds.
 */

const QEMU = "qemu-system-x86_64";

async function must(binary: string, args: string[]): Promise<string> {
  const result = await run(binary, args);
  if (result.code !== 0) throw commandError(binary, args, result);
  return result.stdout;
}

/** The VM image bin/lib/vm-image.sh builds: one folder with disk.qcow2, vmlinuz and initrd.img. */
export interface QemuImage {
  disk: string;
  kernel: string;
  initrd: string;
}

export function qemuImage(dir: string): QemuImage {
  const image = {
    disk: path.join(dir, "disk.qcow2"),
    kernel: path.join(dir, "vmlinuz"),
    initrd: path.join(dir, "initrd.img"),
  };
  for (const file of Object.values(image)) {
    if (!fs.existsSync(file)) {
      throw new Error(
        `the VM image at ${dir} lacks ${path.basename(file)}: rebuild it with ` +
          "`source bin/lib/vm-image.sh && ensure_vm_image` (bin/up does it for a qemu stack)",
      );
    }
  }
  return image;
}

// ---- accelerator ---------------------------------------------------------------------------

const KVM_PROBE_SECONDS = 8;

/**
 * Whether a guest kernel really starts under KVM here: /dev/kvm can exist and still not run an
 * ordinary guest (a paravirtual KVM such as kvm_pvm runs only kernels built for it, and a guest
 * hangs before its first line). Boots the image's kernel with no disk and waits for its banner.
 */
async function kvmBootsKernel(kernel: string): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-kvm-probe-"));
  const serial = path.join(dir, "serial.log");
  try {
    const args = [
      ...["-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-display", "none"],
      ...["-no-reboot", "-kernel", kernel, "-append", "console=ttyS0 panic=-1"],
      ...["-serial", `file:${serial}`],
    ];
    const child = spawn(QEMU, args, { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + KVM_PROBE_SECONDS * 1000;
    let booted = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if (fs.existsSync(serial) && fs.readFileSync(serial, "latin1").includes("Linux version")) {
        booted = true;
        break;
      }
      await sleep(200);
    }
    child.kill("SIGKILL");
    await exited;
    return booted;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** KVM when asked for, or when `auto` and a probe boot works; else TCG, with the reason. */
export async function chooseAccelerator(
  wanted: QemuDriverConfig["accelerator"],
  kernel: string,
): Promise<{ accelerator: QemuAccelerator; reason: string }> {
  if (wanted !== "auto") return { accelerator: wanted, reason: `accelerator: ${wanted} is set` };
  try {
    fs.accessSync("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return {
      accelerator: "tcg",
      reason: "/dev/kvm is missing or not usable: software emulation (TCG), slow",
    };
  }
  if (await kvmBootsKernel(kernel)) return { accelerator: "kvm", reason: "KVM works" };
  return {
    accelerator: "tcg",
    reason:
      `/dev/kvm exists but a guest kernel printed nothing under KVM in ${KVM_PROBE_SECONDS} s ` +
      "(a paravirtual KVM such as kvm_pvm runs only kernels built for it): software emulation (TCG), slow",
  };
}

/** The first non-loopback nameserver of this machine: the VMs resolve through it (over the NAT). */
export function machineNameserver(resolvConf = "/etc/resolv.conf"): string {
  const servers = fs
    .readFileSync(resolvConf, "utf8")
    .split("\n")
    .map((line) => /^nameserver\s+(\d+\.\d+\.\d+\.\d+)/.exec(line.trim())?.[1])
    .filter((server): server is string => server !== undefined && !server.startsWith("127."));
  if (servers[0] === undefined) {
    throw new Error(
      `${resolvConf} names no IPv4 nameserver outside 127.0.0.0/8 that VMs could use`,
    );
  }
  return servers[0];
}

// ---- network -------------------------------------------------------------------------------

/** The iptables rules that give the bridge NAT to the outside and pass its forwarded traffic. */
function natRules(network: PlannedQemuNetwork): string[][] {
  const comment = ["-m", "comment", "--comment", `dockfleet ${network.bridge}`];
  return [
    [
      "-t",
      "nat",
      "POSTROUTING",
      "-s",
      network.subnet,
      "!",
      "-o",
      network.bridge,
      "-j",
      "MASQUERADE",
      ...comment,
    ],
    // Ahead of Docker's chains, whose FORWARD policy drops what it does not know.
    ["-t", "filter", "FORWARD", "-i", network.bridge, "-j", "ACCEPT", ...comment],
    ["-t", "filter", "FORWARD", "-o", network.bridge, "-j", "ACCEPT", ...comment],
  ];
}

async function linkExists(name: string): Promise<boolean> {
  return (await run("ip", ["link", "show", "dev", name])).code === 0;
}

/** Creates (or completes) the bridge, its address and NAT. Idempotent. */
export async function ensureQemuNetwork(network: PlannedQemuNetwork): Promise<void> {
  if (!(await linkExists(network.bridge))) {
    await must("ip", ["link", "add", network.bridge, "type", "bridge"]);
  }
  const addresses = await must("ip", ["-o", "-4", "addr", "show", "dev", network.bridge]);
  if (!addresses.includes(` ${network.gatewayCidr} `)) {
    await must("ip", ["addr", "add", network.gatewayCidr, "dev", network.bridge]);
  }
  await must("ip", ["link", "set", network.bridge, "up"]);
  for (const [, table, chain, ...rule] of natRules(network)) {
    if ((await run("iptables", ["-t", table, "-C", chain, ...rule])).code !== 0) {
      await must("iptables", ["-t", table, "-I", chain, "1", ...rule]);
    }
  }
}

/** Removes the bridge and its rules. Idempotent. */
export async function removeQemuNetwork(network: PlannedQemuNetwork): Promise<void> {
  for (const [, table, chain, ...rule] of natRules(network)) {
    while ((await run("iptables", ["-t", table, "-D", chain, ...rule])).code === 0);
  }
  if (await linkExists(network.bridge)) await must("ip", ["link", "del", network.bridge]);
}

export async function qemuNetworkExists(network: PlannedQemuNetwork): Promise<boolean> {
  return linkExists(network.bridge);
}

// ---- VMs -----------------------------------------------------------------------------------

/** What `startQemuVm` needs to run a VM again: kept in its folder. */
interface SavedLaunch {
  args: string[];
  tap: string;
  bridge: string;
}

function readPid(dir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(qemuVmFiles(dir).pid, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the VM's QEMU when it runs (a pid file whose process is that QEMU), else undefined. */
export function qemuVmPid(dir: string): number | undefined {
  const pid = readPid(dir);
  if (pid === undefined) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(qemuVmFiles(dir).pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** How the VM stands: running, stopped through dockfleet, or gone (killed, never made). */
export function qemuVmState(dir: string): "running" | "stopped" | "gone" {
  if (qemuVmPid(dir) !== undefined) return "running";
  const files = qemuVmFiles(dir);
  return fs.existsSync(files.stopped) && fs.existsSync(files.overlay) ? "stopped" : "gone";
}

async function ensureTap(tap: string, bridge: string): Promise<void> {
  if (!(await linkExists(tap))) await must("ip", ["tuntap", "add", "dev", tap, "mode", "tap"]);
  await must("ip", ["link", "set", tap, "master", bridge, "up"]);
}

/** Starts the VM as last configured (a no-op when it runs). Returns once QEMU has daemonized. */
export async function startQemuVm(dir: string): Promise<void> {
  if (qemuVmPid(dir) !== undefined) return;
  const files = qemuVmFiles(dir);
  const launch = JSON.parse(fs.readFileSync(files.args, "utf8")) as SavedLaunch;
  await ensureTap(launch.tap, launch.bridge);
  fs.rmSync(files.qmp, { force: true });
  await must(QEMU, launch.args);
  fs.rmSync(files.stopped, { force: true });
}

/** One QMP command on the VM's socket; resolves with its `return` value. */
async function qmp(dir: string, command: string, args?: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(qemuVmFiles(dir).qmp);
    let buffer = "";
    let sent = false;
    socket.setTimeout(10_000, () => socket.destroy(new Error(`QMP ${command}: no answer`)));
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
        const message = JSON.parse(buffer.slice(0, newline)) as Record<string, unknown>;
        buffer = buffer.slice(newline + 1);
        if ("QMP" in message) {
          socket.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
        } else if ("return" in message && !sent) {
          sent = true;
          socket.write(`${JSON.stringify({ execute: command, arguments: args })}\n`);
        } else if ("return" in message || "error" in message) {
          socket.end();
          if ("error" in message)
            reject(new Error(`QMP ${command}: ${JSON.stringify(message.error)}`));
          else resolve(message.return);
        }
      }
    });
  });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const giveUpAt = Date.now() + timeoutMs;
  while (Date.now() < giveUpAt) {
    if (!fs.existsSync(`/proc/${pid}`)) return true;
    await sleep(200);
  }
  return false;
}

/**
 * Shuts the VM down as a power button would (the guest syncs its disks), then QEMU is killed if
 * it has not stopped within `timeoutMs`. Marks the VM stopped on purpose (refresh keeps it).
 */
export async function stopQemuVm(dir: string, timeoutMs = 120_000): Promise<void> {
  const files = qemuVmFiles(dir);
  const pid = qemuVmPid(dir);
  if (pid !== undefined) {
    // The guest must have started systemd to honour the button: kill if QMP cannot ask it.
    const asked = await qmp(dir, "system_powerdown").then(
      () => true,
      () => false,
    );
    if (!asked || !(await waitForExit(pid, timeoutMs))) {
      process.kill(pid, "SIGKILL");
      await waitForExit(pid, 10_000);
    }
  }
  if (fs.existsSync(files.overlay)) fs.writeFileSync(files.stopped, "");
}

/** Kills the VM's QEMU at once (destroy: nothing on its disk is kept). */
async function killQemuVm(dir: string): Promise<void> {
  const pid = qemuVmPid(dir);
  if (pid === undefined) return;
  process.kill(pid, "SIGKILL");
  await waitForExit(pid, 10_000);
}

/** Everything one VM needs, made from nothing: overlay, seed, tap, QEMU started. */
export async function createQemuVm(args: {
  vm: PlannedQemuVm;
  network: PlannedQemuNetwork;
  image: QemuImage;
  seed: Record<string, string>;
  accelerator: QemuAccelerator;
}): Promise<void> {
  const { vm, image } = args;
  const files = qemuVmFiles(vm.dir);
  await destroyQemuVm(vm.dir, vm.tap);
  fs.mkdirSync(vm.dir, { recursive: true, mode: 0o700 });
  // Copy-on-write over the shared image, at the image's virtual size.
  await must("qemu-img", [
    ...["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image.disk, files.overlay],
  ]);
  await writeSeedIso(files.seed, args.seed);
  const launch: SavedLaunch = {
    args: renderQemuArgs(vm, image, args.accelerator),
    tap: vm.tap,
    bridge: args.network.bridge,
  };
  fs.writeFileSync(files.args, `${JSON.stringify(launch, null, 2)}\n`, { mode: 0o600 });
  await startQemuVm(vm.dir);
}

/**
 * Kills the VM and removes its tap and folder (overlay, seed, snapshots with it), and the stack's
 * folder above it once no other VM's folder is left there. Idempotent.
 */
export async function destroyQemuVm(dir: string, tap: string): Promise<void> {
  await killQemuVm(dir);
  if (await linkExists(tap)) await must("ip", ["link", "del", tap]);
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    fs.rmdirSync(path.dirname(dir));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw error;
  }
}

// ---- snapshots -----------------------------------------------------------------------------

export interface QemuSnapshot {
  name: string;
  /** "2026-12-03 17:20:18" as qemu-img prints it. */
  date: string;
}

/** Runs `body` with the VM off (qcow2 internal snapshots are taken of a closed image), then starts it again if it ran. */
async function whileStopped<T>(dir: string, body: () => Promise<T>): Promise<T> {
  const wasRunning = qemuVmPid(dir) !== undefined;
  if (qemuVmState(dir) === "gone") throw new Error(`no VM in ${dir}`);
  if (wasRunning) await stopQemuVm(dir);
  try {
    return await body();
  } finally {
    if (wasRunning) await startQemuVm(dir);
  }
}

export async function listQemuSnapshots(dir: string): Promise<QemuSnapshot[]> {
  // -U: the image is open in a running QEMU; listing only reads it.
  const out = await must("qemu-img", ["snapshot", "-U", "-l", qemuVmFiles(dir).overlay]);
  return out
    .split("\n")
    .map((line) => line.trim().split(/\s{2,}|\s+(?=\d{4}-\d\d-\d\d )/))
    .filter((fields) => /^\d+$/.test(fields[0] ?? "") && fields.length >= 4)
    .map((fields) => {
      const date = fields.find((field) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(field)) ?? "";
      return { name: fields[1], date };
    });
}

/** Saves the VM's disk as snapshot `name` (replacing one of that name). */
export async function saveQemuSnapshot(dir: string, name: string): Promise<void> {
  const overlay = qemuVmFiles(dir).overlay;
  await whileStopped(dir, async () => {
    if ((await listQemuSnapshots(dir)).some((snapshot) => snapshot.name === name)) {
      await must("qemu-img", ["snapshot", "-d", name, overlay]);
    }
    await must("qemu-img", ["snapshot", "-c", name, overlay]);
  });
}

/** Puts the VM's disk back to snapshot `name` and boots it from there. */
export async function restoreQemuSnapshot(dir: string, name: string): Promise<void> {
  await requireSnapshot(dir, name);
  await whileStopped(dir, () =>
    must("qemu-img", ["snapshot", "-a", name, qemuVmFiles(dir).overlay]),
  );
}

export async function deleteQemuSnapshot(dir: string, name: string): Promise<void> {
  await requireSnapshot(dir, name);
  await whileStopped(dir, () =>
    must("qemu-img", ["snapshot", "-d", name, qemuVmFiles(dir).overlay]),
  );
}

async function requireSnapshot(dir: string, name: string): Promise<void> {
  const names = (await listQemuSnapshots(dir)).map((snapshot) => snapshot.name);
  if (!names.includes(name)) {
    throw new Error(`no snapshot named "${name}" (there are: ${names.join(", ") || "none"})`);
  }
}
