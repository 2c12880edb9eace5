import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { localResourceNames, renderHostRunArgs, renderHostVolumeCreateArgs } from "./run-args";
import { getSshClient } from "../../../provision/ssh/pool";
import { runDocker, runDockerIgnoringMissing } from "./docker-cli";
import { createStepLog } from "../../../provision/dynamic/log";
import { readWhileThere } from "../refresh";

interface LocalHostInputs {
  stack: string;
  name: string;
  image: string;
  network: string;
  ipv4Address: string;
  /** The environment's public key, put into root's authorized_keys. */
  authorizedKey: string;
  /** Used once, to prove SSH works before the host is handed on. */
  privateKey: string;
  logUrn: string;
}

interface LocalHostOutputs extends Omit<LocalHostInputs, "privateKey"> {
  containerName: string;
  containerId: string;
  hostKey: string;
}

/** Inputs that change what the container is: a new one is made. */
const REPLACE_KEYS = ["stack", "name", "image", "network", "ipv4Address"] as const;

const HOST_READY_DEADLINE_MS = 120_000;

/** Runs a shell script as root inside a host container, through the engine (no SSH). */
export async function execInHost(
  container: string,
  script: string,
  stdin?: string,
): Promise<string> {
  return runDocker(
    ["exec", ...(stdin === undefined ? [] : ["-i"]), container, "sh", "-c", script],
    {
      stdin,
    },
  );
}

/** Root's authorized_keys from standard input, replaced in one rename. */
const AUTHORIZE_KEY_SCRIPT =
  "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys.new && " +
  "mv /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys";

async function authorizeKey(container: string, publicKey: string): Promise<void> {
  await execInHost(container, AUTHORIZE_KEY_SCRIPT, `${publicKey.trim()}\n`);
}

/** How often the script below looks for the host key, and for how long. */
const HOST_KEY_POLL_SECONDS = 0.1;

/**
 * One `docker exec` into a host that has just started: authorizes `publicKey` for root, waits
 * inside the host for its first-boot unit to have made the SSH host key, and returns the ed25519
 * key ("ssh-ed25519 AAAA...") to pin. Waiting inside costs a `sleep` per look; a `docker exec`
 * per look (CLI, engine, runc) cost about 0.1 CPU-s each, dozens of them while hosts boot at once.
 */
export async function openHostForRoot(container: string, publicKey: string): Promise<string> {
  const tries = Math.ceil(HOST_READY_DEADLINE_MS / 1000 / HOST_KEY_POLL_SECONDS);
  const key = await execInHost(
    container,
    [
      AUTHORIZE_KEY_SCRIPT,
      "tries=0",
      "while [ ! -s /etc/ssh/ssh_host_ed25519_key.pub ]; do",
      `  tries=$((tries + 1)); [ "$tries" -le ${tries} ] || { echo "no SSH host key after ${HOST_READY_DEADLINE_MS / 1000} s" >&2; exit 1; }`,
      `  sleep ${HOST_KEY_POLL_SECONDS}`,
      "done",
      "cat /etc/ssh/ssh_host_ed25519_key.pub",
    ].join("\n"),
    `${publicKey.trim()}\n`,
  );
  const [type, blob] = key.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`${container}: the SSH host key file holds no key`);
  return `${type} ${blob}`;
}

/** The id of the container named `name`, or undefined when there is none. */
async function inspectContainerId(name: string): Promise<string | undefined> {
  try {
    return (await runDocker(["inspect", "--type=container", "--format={{.Id}}", name])).trim();
  } catch (error) {
    if (/no such/i.test((error as Error).message)) return undefined;
    throw error;
  }
}

export const localHostProvider: pulumi.dynamic.ResourceProvider<LocalHostInputs, LocalHostOutputs> =
  {
    async create(inputs) {
      const log = createStepLog(inputs.logUrn, `${inputs.name}: create container`);
      const started = Date.now();
      const names = localResourceNames(inputs.stack, inputs.name);
      // What an interrupted run left of this host is removed and made again: a host container holds
      // nothing dockfleet cannot rebuild, and its volume is only the engine's image cache.
      await runDockerIgnoringMissing(["rm", "--force", names.container]);
      await runDocker(renderHostVolumeCreateArgs({ stack: inputs.stack, name: inputs.name }));
      const containerId = (
        await runDocker([
          "run",
          ...renderHostRunArgs({
            stack: inputs.stack,
            name: inputs.name,
            image: inputs.image,
            network: inputs.network,
            ipv4Address: inputs.ipv4Address,
          }),
        ])
      ).trim();
      const hostKey = await openHostForRoot(names.container, inputs.authorizedKey);
      // The host key read through the engine is pinned before the first SSH connection is made.
      await getSshClient(
        {
          host: inputs.ipv4Address,
          port: 22,
          user: "root",
          privateKey: inputs.privateKey,
          hostKey,
        },
        { deadlineMs: HOST_READY_DEADLINE_MS },
      );
      log.info(`ready at ${inputs.ipv4Address} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const { privateKey: _used, ...kept } = inputs;
      return {
        id: names.container,
        outs: { ...kept, containerName: names.container, containerId, hostKey },
      };
    },
    async read(id, props) {
      // A host container removed (or replaced by another one) behind dockfleet's back.
      return readWhileThere(
        id,
        props,
        async (kept) => (await inspectContainerId(kept.containerName)) === kept.containerId,
      );
    },
    async diff(_id, olds, news) {
      const replaces = REPLACE_KEYS.filter((key) => olds[key] !== news[key]);
      const changes = replaces.length > 0 || olds.authorizedKey !== news.authorizedKey;
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id, olds, news) {
      await authorizeKey(olds.containerName, news.authorizedKey);
      const { privateKey: _used, ...kept } = news;
      return { outs: { ...olds, ...kept } };
    },
    async delete(_id, props) {
      const names = localResourceNames(props.stack, props.name);
      await runDockerIgnoringMissing(["rm", "--force", "--volumes", names.container]);
      await runDockerIgnoringMissing(["volume", "rm", names.volume]);
    },
  };

export type LocalHostArgs = ResourceArgs<LocalHostInputs>;

const localHostSpec = {
  type: "LocalHost",
  module: __filename,
  provider: "localHostProvider",
  secrets: ["privateKey"],
  outputs: ["containerName", "containerId", "hostKey"],
};

/** One system container (systemd, sshd) on the local engine: a local Docker host. */
export class LocalHost extends DynamicResource {
  declare readonly containerName: pulumi.Output<string>;
  declare readonly hostKey: pulumi.Output<string>;
  declare readonly ipv4Address: pulumi.Output<string>;

  constructor(name: string, args: LocalHostArgs, opts?: pulumi.CustomResourceOptions) {
    super(localHostSpec, name, args, opts);
  }
}
