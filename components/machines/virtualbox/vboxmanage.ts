import { setTimeout as sleep } from "node:timers/promises";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { VirtualBoxStep } from "./plan";
import type { StepLog } from "../../../provision/dynamic/log";
import { writeSeedIso } from "../seed-iso";
import { commandError, isExecutable, run, searchPath } from "../commands";

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
      await writeSeedIso(step.path, step.files);
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
