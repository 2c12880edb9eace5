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

/**
 * Fresh hosts for the benchmark's peers (the naive loop, Ansible): the same system containers the
 * local driver makes (renderHostRunArgs, same image), labelled dockfleet.io/stack=<stack>.
 */

/**
 * An address in the subnet that no benchmark host takes (they are at most 10, from .10 on): the
 * 40th planned host's, .49 of a /24. A registry mirror that need not exist for the mirror change.
 */
export function spareAddress(subnet: string): string {
  return planLocalHosts({ count: 40, namePrefix: "spare", subnet })[39].ipv4Address;
}

export async function execInContainer(container: string, script: string, stdin?: string) {
  return runDocker(
    ["exec", ...(stdin === undefined ? [] : ["-i"]), container, "sh", "-c", script],
    { stdin },
  );
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
  const hostKey = await waitUntil(`${host.name}'s SSH host key`, 120_000, async () => {
    const [type, blob] = (
      await execInContainer(names.container, "cat /etc/ssh/ssh_host_ed25519_key.pub")
    )
      .trim()
      .split(/\s+/);
    if (!type || !blob) throw new Error("no key yet");
    return `${type} ${blob}`;
  });
  await execInContainer(
    names.container,
    "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
    `${args.publicKey}\n`,
  );
  return hostKey;
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
