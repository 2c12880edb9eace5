import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openStack, removeStackCompletely, ROOT, writeStackConfig } from "../test/helpers/stack";

/**
 * `node --import tsx bench/qemu-ready.ts <vm image folder>` (after bin/lib/setup.sh's run_setup and
 * ensure_vm_setup): one qemu VM made by `pulumi up`, timed to a ready VM host (booted, SSH
 * answering with the pinned key: the driver's "ready ... in N s" line) and to Docker ready (the
 * whole up: DockerEngine done, TLS API up). Appends a line to bench/results/qemu-ready.md.
 */

const STACK = `benchqemu${process.pid}`;

async function main(imageDir: string): Promise<void> {
  writeStackConfig(STACK, {
    driver: "qemu",
    hosts: 1,
    namePrefix: "vm",
    qemu: { subnet: "172.30.95.0/24", cpus: 2, memoryMb: 1536 },
    engine: { source: "distro" },
  });
  const stack = await openStack(STACK, { DOCKFLEET_VM_IMAGE: imageDir });
  try {
    let log = "";
    const started = Date.now();
    await stack.up({ onOutput: (text) => (log += text) });
    const dockerReady = (Date.now() - started) / 1000;
    const vmReady = /ready at [\d.]+ in ([\d.]+) s/.exec(log)?.[1] ?? "?";
    const accelerator = /accelerator (kvm|tcg)/.exec(log)?.[1] ?? "?";
    const line =
      `| ${new Date().toISOString().slice(0, 16)} | ${accelerator} | ${vmReady} | ` +
      `${dockerReady.toFixed(1)} | ${os.loadavg()[0].toFixed(1)} |\n`;
    const file = path.join(ROOT, "bench", "results", "qemu-ready.md");
    fs.appendFileSync(file, line);
    process.stdout.write(line);
  } finally {
    await removeStackCompletely(stack, STACK);
  }
}

void main(process.argv[2] ?? process.env.DOCKFLEET_VM_IMAGE ?? "").catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
