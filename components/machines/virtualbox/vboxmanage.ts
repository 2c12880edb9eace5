import { setTimeout as sleep } from "node:timers/promises";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as net from "node:net";
import * as path from "node:path";
import type { VirtualBoxStep } from "./plan";
import type { StepLog } from "../../../provision/dynamic/log";

/** Thrown before any step runs when VirtualBox's command-line tool cannot be found. */
export class VBoxManageMissingError extends Error {
  constructor(searched: string[]) {
    super(
      `VBoxManage was not found (DOCKFLEET_VBOXMANAGE is not set; searched PATH: ${searched.join(path.delimiter) || "(empty)"}).\n` +
        "The virtualbox driver runs VirtualBox's VBoxManage: install VirtualBox 6.1.28 or newer " +
        "(https://www.virtualbox.org/wiki/Downloads), or set DOCKFLEET_VBOXMANAGE to the VBoxManage binary.",
    );
    this.name = "VBoxManageMissingError";
  }
}

/** The tools that can write an ISO 9660 image with a volume label (the NoCloud seed). */
const ISO_TOOLS = [
  { binary: "genisoimage", prefix: [] as string[] },
  { binary: "mkisofs", prefix: [] as string[] },
  { binary: "xorriso", prefix: ["-as", "mkisofs"] },
];

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function searchPath(names: string[], env: NodeJS.ProcessEnv): { found?: string; dirs: string[] } {
  const dirs = (env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "");
  if (process.platform === "win32" && env.VBOX_MSI_INSTALL_PATH)
    dirs.push(env.VBOX_MSI_INSTALL_PATH);
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return { found: candidate, dirs };
    }
  }
  return { dirs };
}

/** The VBoxManage binary: DOCKFLEET_VBOXMANAGE, else the first on PATH; refuses clearly when absent. */
export function findVBoxManage(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.DOCKFLEET_VBOXMANAGE;
  if (given !== undefined && given !== "") {
    if (!isExecutable(given)) {
      throw new Error(
        `DOCKFLEET_VBOXMANAGE=${JSON.stringify(given)} is not an executable file: point it at VirtualBox's VBoxManage`,
      );
    }
    return given;
  }
  const { found, dirs } = searchPath(["VBoxManage", "vboxmanage", "VBoxManage.exe"], env);
  if (found === undefined) throw new VBoxManageMissingError(dirs);
  return found;
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(binary: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(binary, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || error?.message || "") });
    });
  });
}

function commandError(binary: string, args: string[], result: CommandResult): Error {
  const tail = result.stderr.trim().split("\n").slice(-10).join("\n");
  return new Error(
    `command failed: ${[path.basename(binary), ...args].join(" ")}\nexit code: ${result.code}\nstderr:\n${tail}`,
  );
}

/** `VBoxManage ARGS`, failing with the command and its stderr; returns stdout. */
export async function vboxmanageOutput(args: string[]): Promise<string> {
  const vboxmanage = findVBoxManage();
  const result = await run(vboxmanage, args);
  if (result.code !== 0) throw commandError(vboxmanage, args, result);
  return result.stdout;
}

/** Names of the host-only interfaces VirtualBox knows ("Name: vboxnet0" lines). */
async function listHostOnlyAdapters(vboxmanage: string): Promise<string[]> {
  const result = await run(vboxmanage, ["list", "hostonlyifs"]);
  if (result.code !== 0) throw commandError(vboxmanage, ["list", "hostonlyifs"], result);
  return [...result.stdout.matchAll(/^Name:\s+(\S+)/gm)].map((match) => match[1]);
}

async function writeSeedIso(step: Extract<VirtualBoxStep, { kind: "seed-iso" }>): Promise<void> {
  const { found, dirs } = searchPath(
    ISO_TOOLS.map((tool) => tool.binary),
    process.env,
  );
  if (found === undefined) {
    throw new Error(
      `none of ${ISO_TOOLS.map((tool) => tool.binary).join(", ")} was found on PATH (${dirs.join(path.delimiter)}): ` +
        "the cloud-init seed ISO needs one (Debian/Ubuntu: apt-get install genisoimage)",
    );
  }
  const tool = ISO_TOOLS.find((candidate) => path.basename(found) === candidate.binary)!;
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-seed-"));
  try {
    for (const [name, content] of Object.entries(step.files)) {
      fs.writeFileSync(path.join(staging, name), content, { mode: 0o600 });
    }
    fs.mkdirSync(path.dirname(step.path), { recursive: true, mode: 0o700 });
    const args = [
      ...tool.prefix,
      "-output",
      step.path,
      "-volid",
      "cidata",
      "-joliet",
      "-rock",
      ...Object.keys(step.files).map((name) => path.join(staging, name)),
    ];
    const result = await run(found, args);
    if (result.code !== 0) throw commandError(found, args, result);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Waits until the address answers with an SSH banner (sshd is up, not just the NAT forward). */
async function waitForSshBanner(
  address: string,
  port: number,
  timeoutSeconds: number,
): Promise<void> {
  const giveUpAt = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const banner = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: address, port });
      let received = "";
      const done = (value: string) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(5000, () => done(received));
      socket.on("data", (chunk) => {
        received += chunk.toString("latin1");
        if (received.includes("\n")) done(received);
      });
      socket.on("error", () => done(""));
      socket.on("close", () => done(received));
    });
    if (banner.startsWith("SSH-")) return;
    if (Date.now() > giveUpAt) {
      throw new Error(
        `no SSH banner from ${address}:${port} after ${timeoutSeconds} s: check the VM's console ` +
          "(VirtualBox Manager, or VBoxManage showvminfo) and that its image runs cloud-init",
      );
    }
    await sleep(2000);
  }
}

/** Executes a plan's steps in order, each reported on the log; stops at the first failure. */
export async function runVirtualBoxSteps(steps: VirtualBoxStep[], log: StepLog): Promise<void> {
  const vboxmanage = findVBoxManage();
  for (const step of steps) {
    log.progress(step.purpose);
    if (step.kind === "seed-iso") {
      await writeSeedIso(step);
    } else if (step.kind === "wait-for-ssh") {
      await waitForSshBanner(step.address, step.port, step.timeoutSeconds);
    } else if (step.kind === "remove-path") {
      fs.rmSync(step.path, { recursive: true, force: true });
    } else {
      if (step.onlyIfAdapterMissing !== undefined) {
        const adapters = await listHostOnlyAdapters(vboxmanage);
        if (adapters.includes(step.onlyIfAdapterMissing)) continue;
      }
      const giveUpAt = Date.now() + (step.retryForSeconds ?? 0) * 1000;
      for (;;) {
        const result = await run(vboxmanage, step.args);
        if (result.code === 0 || step.ignoreFailure) break;
        if (Date.now() >= giveUpAt) throw commandError(vboxmanage, step.args, result);
        await sleep(1000);
      }
      if (step.onlyIfAdapterMissing !== undefined) {
        const adapters = await listHostOnlyAdapters(vboxmanage);
        if (!adapters.includes(step.onlyIfAdapterMissing)) {
          throw new Error(
            `VirtualBox created a host-only interface, but not ${step.onlyIfAdapterMissing} (it has: ${adapters.join(", ")}): ` +
              "set dockfleet:virtualbox.hostOnlyAdapter to one of those",
          );
        }
      }
    }
  }
}
