import { pollUntil } from "../../../provision/dynamic/poll";
import type { HostPower, PowerState, PowerTarget } from "../power";
import { virtualBoxVmName } from "./plan";
import { vboxmanageOutput } from "./vboxmanage";

/**
 * The virtualbox driver's power, through VBoxManage (no VirtualBox on this project's machines:
 * the unit test runs it against a recording stand-in VBoxManage, DOCKFLEET_VBOXMANAGE).
 */

/** Pure: the power state of a VM from `showvminfo --machinereadable`'s VMState. */
export function vmPowerState(showVmInfo: string): PowerState {
  const state = /^VMState="([^"]*)"/m.exec(showVmInfo)?.[1];
  switch (state) {
    case "running":
      return "running";
    case "paused":
      return "paused";
    case "starting":
    case "restoring":
      return "starting";
    case "stopping":
    case "saving":
      return "stopping";
    case undefined:
      return "missing";
    default:
      // "poweroff", "saved", "aborted"
      return "stopped";
  }
}

/** Pure: the VBoxManage arguments of each power step of a host's VM. */
export function planVmPower(stack: string, host: string) {
  const vm = virtualBoxVmName(stack, host);
  return {
    info: ["showvminfo", vm, "--machinereadable"],
    /** ACPI shutdown: the guest's systemd stops its services cleanly. */
    shutdown: ["controlvm", vm, "acpipowerbutton"],
    /** When the guest ignores ACPI. */
    powerOff: ["controlvm", vm, "poweroff"],
    start: ["startvm", vm, "--type", "headless"],
  };
}

/** How long the guest has to shut down on ACPI before it is powered off. */
const ACPI_SHUTDOWN_MS = 60_000;

async function state(target: PowerTarget): Promise<PowerState> {
  try {
    return vmPowerState(await vboxmanageOutput(planVmPower(target.stack, target.host).info));
  } catch (error) {
    if (/could not find a registered machine/i.test((error as Error).message)) return "missing";
    throw error;
  }
}

export const virtualBoxPower: HostPower = {
  state,
  async stop(target) {
    const plan = planVmPower(target.stack, target.host);
    await vboxmanageOutput(plan.shutdown);
    const off = await pollUntil(
      async () => ((await state(target)) === "stopped" ? true : undefined),
      { timeoutMs: ACPI_SHUTDOWN_MS, intervalMs: 1000 },
    );
    if (off === undefined) await vboxmanageOutput(plan.powerOff);
  },
  async start(target) {
    await vboxmanageOutput(planVmPower(target.stack, target.host).start);
  },
};
