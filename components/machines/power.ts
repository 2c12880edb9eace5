/**
 * Powering a created host off and on again (docker-machine's stop/start/restart, Vagrant's
 * halt/up/reload): what a driver that can do it provides. The host's definition does not change,
 * so none of this goes through `pulumi up`; `bin/dockfleet` dispatches to a driver's HostPower
 * by the `driver` of the host's stack output (cli/power.ts).
 */

/** Where a host is, as its driver sees it (the Docker API is asked separately). */
export type PowerState = "running" | "stopped" | "paused" | "starting" | "stopping" | "missing";

/** The host a power call is about. */
export interface PowerTarget {
  stack: string;
  /** Host name within the stack ("host-1"). */
  host: string;
  /**
   * The resources of the stack's state (a `pulumi stack export`'s `deployment.resources`), read
   * only when a driver needs them (a cloud instance's id and region).
   */
  stateResources(): Promise<StateResource[]>;
}

/** A resource of a state export, as far as the power functions read it. */
export interface StateResource {
  urn: string;
  type: string;
  id?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

export interface HostPower {
  state(target: PowerTarget): Promise<PowerState>;
  /** A clean shutdown; returns once the host is off. */
  stop(target: PowerTarget): Promise<void>;
  /** Returns once the machine runs; the caller waits for its services. */
  start(target: PowerTarget): Promise<void>;
  /** How long a started host may take to be back in service. @default 180 s */
  backTimeoutMs?: number;
}
