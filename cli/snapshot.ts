import type { Command } from "commander";
import { requireQemuVmDir } from "../components/machines/qemu/power";
import {
  deleteQemuSnapshot,
  listQemuSnapshots,
  restoreQemuSnapshot,
  saveQemuSnapshot,
} from "../components/machines/qemu/qemu";
import { closeAllSshClients, getSshClient } from "../provision/ssh/pool";
import { CliError } from "./cli-error";
import { type CommonOptions, printResult, withStackOptions } from "./options";
import { stateResourcesOf } from "./power";
import { defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

const ACTIONS = ["save", "restore", "list", "delete"] as const;
type Action = (typeof ACTIONS)[number];

/** How long a restored or restarted VM may take to answer SSH (minutes under emulation). */
const ANSWER_DEADLINE_MS = 600_000;

/** Pure: a snapshot name qemu-img keeps as given (no spaces, no option-like dash). */
export function checkSnapshotName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new CliError(
      `snapshot name ${JSON.stringify(name)}: use 1-64 letters, digits, . _ - (not starting with . _ -)`,
    );
  }
  return name;
}

/**
 * A qemu host of a stack: its VM's folder (what the driver's snapshot functions take), as the
 * stack's state holds it (the same lookup as its power: components/machines/qemu/power.ts), its
 * outputs, and the stack's. Refuses hosts of other drivers.
 */
export async function qemuHost(stackName: string, hostName: string) {
  const workDir = defaultWorkDir();
  const outputs = await readStackOutputs(stackName, workDir);
  const host = findHost(outputs, hostName);
  if (host.driver !== "qemu") {
    throw new CliError(`${hostName} is a ${host.driver} host: this is for qemu hosts`);
  }
  const dir = requireQemuVmDir(await stateResourcesOf(stackName, workDir), hostName);
  return { dir, host, outputs };
}

/**
 * `dockfleet snapshot save|restore|list|delete <host> [name]`: Vagrant's snapshots for qemu hosts,
 * as qcow2 internal snapshots of the VM's overlay (taken with the VM shut down, which it is
 * for a moment: it boots again and answers SSH before the command returns).
 */
export function registerSnapshotCommand(program: Command): void {
  const command = program
    .command("snapshot")
    .description("save, restore, list or delete disk snapshots of a qemu host (Vagrant's snapshot)")
    .argument("<action>", ACTIONS.join(" | "))
    .argument("<host>", "host name, as `dockfleet ls` lists it")
    .argument("[name]", "snapshot name (save: default a timestamp)");
  withStackOptions(command).action(
    async (action: string, hostName: string, name: string | undefined, options: CommonOptions) => {
      if (!(ACTIONS as readonly string[]).includes(action)) {
        throw new CliError(`unknown snapshot action "${action}": use ${ACTIONS.join(", ")}`);
      }
      const { dir, host, outputs } = await qemuHost(options.stack, hostName);
      const answering = async () => {
        const started = Date.now();
        await getSshClient(
          {
            host: host.address,
            port: host.sshPort,
            user: host.sshUser,
            privateKey: outputs.sshPrivateKey,
            hostKey: host.hostKey,
          },
          { deadlineMs: ANSWER_DEADLINE_MS },
        );
        await closeAllSshClients();
        return ((Date.now() - started) / 1000).toFixed(1);
      };
      const result = await runSnapshotAction(action as Action, dir, hostName, name, answering);
      printResult(options.json, result.value, result.text);
    },
  );
}

/** What a snapshot action did: the text for a terminal, the value for --json. */
interface SnapshotResult {
  text: string;
  value: Record<string, unknown>;
}

async function runSnapshotAction(
  action: Action,
  dir: string,
  hostName: string,
  name: string | undefined,
  answering: () => Promise<string>,
): Promise<SnapshotResult> {
  const required = () => {
    if (name === undefined) throw new CliError(`snapshot ${action} needs a snapshot name`);
    return checkSnapshotName(name);
  };
  if (action === "list") {
    const snapshots = await listQemuSnapshots(dir);
    return {
      text: snapshots.map((snapshot) => `${snapshot.name}\t${snapshot.date}\n`).join(""),
      value: { host: hostName, snapshots },
    };
  }
  const snapshot =
    action === "save" && name === undefined
      ? new Date().toISOString().replace(/[:]/g, "").replace(/\..*/, "")
      : required();
  if (action === "save") await saveQemuSnapshot(dir, snapshot);
  else if (action === "restore") await restoreQemuSnapshot(dir, snapshot);
  else await deleteQemuSnapshot(dir, snapshot);
  const seconds = await answering();
  const done = { save: "saved", restore: "restored", delete: "deleted" }[action];
  return {
    text: `${done} snapshot ${snapshot} of ${hostName}; SSH answers again (${seconds} s)`,
    value: { host: hostName, action, snapshot, sshAnswersAfterSeconds: Number(seconds) },
  };
}
