import {
  localNetworkName,
  localResourceNames,
  type PlannedLocalHost,
  planLocalHosts,
  renderHostRunArgs,
  renderHostVolumeCreateArgs,
  renderNetworkCreateArgs,
} from "../components/machines/local/run-args";
import { runDocker, runDockerIgnoringMissing } from "../components/machines/local/docker-cli";
import { openHostForRoot } from "../components/machines/local/host-container";

/**
 * Fresh hosts for the benchmark's peers (the naive loop, Ansible): the same system containers the
 * local driver makes (renderHostRunArgs, same image), labelled dockfleet.io/stack=<stack>.
 */

/**
 * An address in the subnet that no benchmark host takes (they are at most 30, from .10 on): the
 * 40th planned host's, .49 of a /24. A registry mirror that need not exist for the mirror change.
 */
export function spareAddress(subnet: string): string {
  return planLocalHosts({ count: 40, namePrefix: "spare", subnet })[39].ipv4Address;
}

export async function waitUntil<T>(what: string, deadlineMs: number, attempt: () => Promise<T>) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`gave up waiting for ${what}: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** What a kind that makes its own hosts is given: how many, where, from which image. */
export interface BenchHostsArgs {
  /** Names and labels the Docker objects ("dockfleet.io/stack" = stack). */
  stack: string;
  hosts: number;
  subnet: string;
  image: string;
}

export async function createBenchNetwork(stack: string, subnet: string): Promise<void> {
  await runDocker(renderNetworkCreateArgs({ stack, subnet }));
}

/**
 * Starts one host container, waits for its SSH host key and authorizes `publicKey` for root;
 * returns the host key ("ssh-ed25519 AAAA...") to pin.
 */
export async function startBenchHost(args: {
  stack: string;
  image: string;
  host: PlannedLocalHost;
  publicKey: string;
}): Promise<string> {
  const { stack, host } = args;
  const names = localResourceNames(stack, host.name);
  await runDocker(renderHostVolumeCreateArgs({ stack, name: host.name }));
  await runDocker([
    "run",
    ...renderHostRunArgs({
      stack,
      name: host.name,
      image: args.image,
      network: localNetworkName(stack),
      ipv4Address: host.ipv4Address,
    }),
  ]);
  return openHostForRoot(names.container, args.publicKey);
}

/** Removes every container, volume and the network of the stack's benchmark hosts. */
export async function removeBenchHosts(stack: string): Promise<void> {
  const ids = (
    await runDocker(["ps", "--all", "--quiet", "--filter", `label=dockfleet.io/stack=${stack}`])
  )
    .split("\n")
    .filter(Boolean);
  if (ids.length > 0) await runDocker(["rm", "--force", "--volumes", ...ids]);
  const volumes = (
    await runDocker(["volume", "ls", "--quiet", "--filter", `label=dockfleet.io/stack=${stack}`])
  )
    .split("\n")
    .filter(Boolean);
  if (volumes.length > 0) await runDocker(["volume", "rm", ...volumes]);
  await runDockerIgnoringMissing(["network", "rm", localNetworkName(stack)]);
}
