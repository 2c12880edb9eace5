import type { HostPower, PowerState, PowerTarget } from "../power";
import { runDocker } from "./docker-cli";
import { localResourceNames } from "./run-args";

/**
 * The local driver's power: the host container stopped and started on the local engine. The
 * container keeps its file system and its volume, its fixed address and systemd's enabled units
 * (docker, etcd), so a started host comes back with its engine, swarm node and etcd member.
 * `docker stop` sends the container's stop signal (SIGRTMIN+3: systemd shuts down cleanly) and
 * keeps it stopped across engine restarts (--restart=unless-stopped).
 */

/** Pure: the power state of a container from `docker inspect`'s .State.Status. */
export function containerPowerState(status: string | undefined): PowerState {
  switch (status) {
    case "running":
      return "running";
    case "paused":
      return "paused";
    case "restarting":
    case "created":
      return "starting";
    case "removing":
      return "stopping";
    case undefined:
      return "missing";
    default:
      // "exited", "dead"
      return "stopped";
  }
}

function container(target: PowerTarget): string {
  return localResourceNames(target.stack, target.host).container;
}

/** Seconds systemd has to shut the host down before Docker kills it. */
const STOP_TIMEOUT_SECONDS = 30;

export const localPower: HostPower = {
  async state(target) {
    try {
      const status = await runDocker([
        "inspect",
        "--type=container",
        "--format={{.State.Status}}",
        container(target),
      ]);
      return containerPowerState(status.trim());
    } catch (error) {
      if (/no such/i.test((error as Error).message)) return containerPowerState(undefined);
      throw error;
    }
  },
  async stop(target) {
    await runDocker(["stop", `--time=${STOP_TIMEOUT_SECONDS}`, container(target)]);
  },
  async start(target) {
    await runDocker(["start", container(target)]);
  },
};
