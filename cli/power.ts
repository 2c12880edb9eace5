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
 * (qemu) plugs in with one line here pointing at its HostPower. Drivers not listed (ssh: hosts
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

/** The power target of a stack's host; the stack's state is exported once, when first needed. */
export function powerTarget(stack: string, host: HostOutput, workDir: string): PowerTarget {
  let resources: Promise<StateResource[]> | undefined;
  return {
    stack,
    host: host.name,
    stateResources: () =>
      (resources ??= selectNamedStack(stack, workDir)
        .then((named) => named.exportStack())
        .then(
          (exported) => (exported.deployment as { resources?: StateResource[] }).resources ?? [],
        )),
  };
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
