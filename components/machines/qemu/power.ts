import type { HostPower, PowerState, PowerTarget, StateResource } from "../power";
import { qemuVmState, startQemuVm, stopQemuVm } from "./qemu";

/**
 * The qemu driver's power: the VM's QEMU shut down through its power button and run again with
 * the arguments it was created with (stopQemuVm, startQemuVm). The overlay keeps the disk, the
 * seed the address and pinned host key, and docker, etcd and the registry are enabled systemd
 * units, so a started VM comes back with its engine, swarm node and etcd member.
 */

/** The type of a QemuVm (components/machines/qemu/vm.ts) in a state export. */
const QEMU_VM_TYPE = "pulumi-nodejs:dynamic/dockfleet:QemuVm";

/**
 * Pure: the folder of HOST's VM in a state's resources (a QemuVm's id is its folder), or
 * undefined when the state has none (never created, or dropped by a refresh after QEMU died).
 */
export function findQemuVmDir(resources: StateResource[], host: string): string | undefined {
  const found = resources.find(
    (resource) =>
      resource.type === QEMU_VM_TYPE &&
      (resource.outputs?.vm as { host?: unknown } | undefined)?.host === host,
  );
  return found?.id || undefined;
}

/** Pure: the power state of what qemuVmState says of a VM's folder. */
export function qemuPowerState(state: ReturnType<typeof qemuVmState> | undefined): PowerState {
  switch (state) {
    case "running":
      return "running";
    case "stopped":
      return "stopped";
    default:
      // "gone": QEMU died or was killed without a stop through dockfleet; `bin/up` makes it again.
      return "missing";
  }
}

/** The folder of HOST's VM in a state's resources; an error when the state has none. */
export function requireQemuVmDir(resources: StateResource[], host: string): string {
  const dir = findQemuVmDir(resources, host);
  if (dir === undefined) throw new Error(`the stack's state has no qemu VM for host ${host}`);
  return dir;
}

async function vmDir(target: PowerTarget): Promise<string> {
  return requireQemuVmDir(await target.stateResources(), target.host);
}

/** Under emulation a boot takes minutes before Docker answers (as a first boot does). */
const QEMU_BACK_TIMEOUT_MS = 600_000;

export const qemuPower: HostPower = {
  async state(target) {
    const dir = findQemuVmDir(await target.stateResources(), target.host);
    return qemuPowerState(dir === undefined ? undefined : qemuVmState(dir));
  },
  async stop(target) {
    await stopQemuVm(await vmDir(target));
  },
  async start(target) {
    await startQemuVm(await vmDir(target));
  },
  backTimeoutMs: QEMU_BACK_TIMEOUT_MS,
};
