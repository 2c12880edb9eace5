import type { PowerState } from "../components/machines/power";
import type { HostOutput } from "../components/stack/outputs";
import { type EngineProbe, probeEngine } from "./docker-api";
import { powerStateOf } from "./power";
import { defaultWorkDir, type NamedStackOutputs } from "./stack-outputs";

/** docker-machine's state names (`docker-machine status`, the STATE column of `ls`). */
export type MachineState = "Running" | "Stopped" | "Paused" | "Starting" | "Stopping" | "Error";

/** What `status` reports of one host, also its JSON form. */
export interface HostState {
  name: string;
  driver: string;
  state: MachineState;
  /** What the driver says of the machine; null for drivers without power (ssh). */
  power: PowerState | null;
  /** The Docker API answered. */
  reachable: boolean;
  error: string | null;
}

const POWER_STATES: Record<Exclude<PowerState, "running" | "missing">, MachineState> = {
  stopped: "Stopped",
  paused: "Paused",
  starting: "Starting",
  stopping: "Stopping",
};

/**
 * Pure: a host's state from its driver's power state and its engine. A machine that is off is
 * Stopped, not an error; a running machine whose Docker API does not answer, or a machine that is
 * gone, is Error with the reason. Without power (ssh driver) the engine alone decides.
 */
export function machineState(
  power: { state?: PowerState; error?: string },
  probe: EngineProbe | undefined,
): { state: MachineState; error: string | null } {
  if (power.state === "missing") {
    return { state: "Error", error: "the machine does not exist: run `bin/up` to create it again" };
  }
  if (power.state !== undefined && power.state !== "running") {
    return { state: POWER_STATES[power.state], error: null };
  }
  if (probe?.reachable) return { state: "Running", error: null };
  return {
    state: "Error",
    error:
      [power.error, probe?.error && `Docker API: ${probe.error}`].filter(Boolean).join("; ") ||
      null,
  };
}

/** Asks one host's driver and (when the machine runs) its engine. */
export async function readHostState(
  outputs: NamedStackOutputs,
  host: HostOutput,
  timeoutMs: number,
): Promise<{ state: HostState; probe: EngineProbe | undefined }> {
  const power = await powerStateOf(outputs.stack, host, defaultWorkDir());
  const probe =
    power.state === undefined || power.state === "running"
      ? await probeEngine(host.dockerHost, outputs.dockerTls, timeoutMs)
      : undefined;
  const { state, error } = machineState(power, probe);
  return {
    state: {
      name: host.name,
      driver: host.driver,
      state,
      power: power.state ?? null,
      reachable: probe?.reachable ?? false,
      error,
    },
    probe,
  };
}
