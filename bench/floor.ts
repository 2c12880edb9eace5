import { localResourceNames, planLocalHosts } from "../components/machines/local/run-args";
import { execInHost } from "../components/machines/local/host-container";
import { generateSshKeyPair } from "../provision/ssh";
import { type BenchHostsArgs, createBenchNetwork, startBenchHost } from "./hosts";

/**
 * The install path's floor: what every tool on it must at least do, with nothing of any tool's
 * own. The same fresh host containers, all at once, then in each at once, through `docker exec`
 * (no SSH): `apt-get update` when the image's lists are over 6 hours old (as both tools do),
 * then `apt-get install --no-install-recommends docker.io` with no service started. No
 * certificates, daemon.json, TLS or dockerd start. dockfleet's and Ansible's creates are this
 * plus what each adds, so the report can say how much of a create is the tool's own.
 */

/**
 * How old the image's apt lists may be before a tool updates them first: install-docker.sh's
 * APT_LISTS_MAX_AGE_HOURS default and the playbook's cache_valid_time (21600 s) both say 6 hours.
 */
const APT_LISTS_MAX_AGE_MINUTES = 6 * 60;

/** The command each host runs: dockfleet's install (install-docker.sh) without its checks. */
export const FLOOR_INSTALL_SCRIPT = [
  "set -e",
  // As both tools do: lists older than that are updated first (an image built hours ago).
  `[ -n "$(find /var/lib/apt/lists -maxdepth 0 -mmin -${APT_LISTS_MAX_AGE_MINUTES})" ] || apt-get -q update >/dev/null`,
  // As install-docker.sh does: the packages start no service (dockerd starts once, configured).
  "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d",
  "chmod 0755 /usr/sbin/policy-rc.d",
  "DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install docker.io >/dev/null",
  "rm -f /usr/sbin/policy-rc.d",
].join("\n");

export async function runInstallFloor(args: BenchHostsArgs): Promise<void> {
  await createBenchNetwork(args.stack, args.subnet);
  // startBenchHost waits until the host has booted (its SSH host key); the key is never used.
  const { publicKey } = generateSshKeyPair(`bench-${args.stack}`);
  const planned = planLocalHosts({ count: args.hosts, namePrefix: "host", subnet: args.subnet });
  await Promise.all(
    planned.map(async (host) => {
      await startBenchHost({ stack: args.stack, image: args.image, host, publicKey });
      const { container } = localResourceNames(args.stack, host.name);
      await execInHost(container, FLOOR_INSTALL_SCRIPT);
    }),
  );
}
