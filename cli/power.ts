/* eslint-disable @typescript-eslint/no-require-imports */
import type {
  HostPower,
  PowerState,
  PowerTarget,
  StateResource,
} from "../components/machines/power";
import type { HostOutput } from "../components/stack/outputs";
import { selectNamedStack } from "./stack-outputs";

/**
 * Which drivers can power their hosts off and on, and how: one entry per driver, loaded when a
 * host of that driver is asked (the cloud modules are not needed for local hosts). A new driver
 * plugs in with one line here pointing at its HostPower. Drivers not listed (ssh: hosts
 * dockfleet did not create) have no power: `stop`/`start` refuse them, `status` asks the engine.
 */
const POWER_DRIVERS: Record<string, () => HostPower> = {
  local: () =>
    (
      require("../components/machines/local/power") as typeof import("../components/machines/local/power")
    ).localPower,
  virtualbox: () =>
    (
      require("../components/machines/virtualbox/power") as typeof import("../components/machines/virtualbox/power")
    ).virtualBoxPower,
  qemu: () =>
    (
      require("../components/machines/qemu/power") as typeof import("../components/machines/qemu/power")
    ).qemuPower,
  aws: () =>
    (
      require("../components/machines/cloud/power") as typeof import("../components/machines/cloud/power")
    ).cloudPower("aws"),
  aliyun: () =>
    (
      require("../components/machines/cloud/power") as typeof import("../components/machines/cloud/power")
    ).cloudPower("aliyun"),
};

/** The drivers whose hosts `stop`, `start` and `restart` can power. */
export const POWERED_DRIVERS = Object.keys(POWER_DRIVERS);

/** A driver's HostPower, or undefined when it has none. */
export function hostPowerOf(driver: string): HostPower | undefined {
  return POWER_DRIVERS[driver]?.();
}

const stateExports = new Map<string, Promise<StateResource[]>>();

/**
 * The resources of a stack's state, exported once per command however many hosts ask (`ls` asks
 * for every host at once; power commands do not change the state).
 */
export function stateResourcesOf(stack: string, workDir: string): Promise<StateResource[]> {
  const key = `${workDir}\0${stack}`;
  let resources = stateExports.get(key);
  if (resources === undefined) {
    resources = selectNamedStack(stack, workDir)
      .then((named) => named.exportStack())
      .then((exported) => (exported.deployment as { resources?: StateResource[] }).resources ?? []);
    stateExports.set(key, resources);
  }
  return resources;
}

/** The power target of a stack's host; the stack's state is exported only when a driver needs it. */
export function powerTarget(stack: string, host: HostOutput, workDir: string): PowerTarget {
  return { stack, host: host.name, stateResources: () => stateResourcesOf(stack, workDir) };
}

/** The power state of a host, or undefined when its driver has no power or cannot say. */
export async function powerStateOf(
  stack: string,
  host: HostOutput,
  workDir: string,
): Promise<{ state?: PowerState; error?: string }> {
  const power = hostPowerOf(host.driver);
  if (power === undefined) return {};
  try {
    return { state: await power.state(powerTarget(stack, host, workDir)) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
