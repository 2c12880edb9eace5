import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { SshClient } from "../../../provision/ssh/client";
import { shellQuote } from "../../../provision/ssh/shell";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import type { StepLog } from "../../../provision/dynamic/log";
import { DynamicResource } from "../../../provision/dynamic/resource";
import {
  isAnotherHost,
  isReachedDifferently,
  runRemoteStep,
  runUndoStep,
} from "../../../provision/dynamic/remote-step";
import { pollUntil } from "../../../provision/dynamic/poll";
import { renderProgress } from "../../../provision/dynamic/progress";
import { withHostFacts } from "../../../provision/dynamic/host-facts";
import {
  replicaCounts,
  SERVICE_REPLICAS_FORMAT,
  servicesNotConverged,
} from "../../engine/swarm-services";

/**
 * A swarm stack deployed with `docker stack deploy` on a manager over SSH: the compose file is
 * uploaded (mode 0600) and deployed; an update deploys again (Docker applies the difference);
 * delete runs `docker stack rm` and waits until the stack's services and networks are gone.
 *
 * Secrets: each key of `secrets` becomes a swarm secret created from stdin (never argv), named
 * "<stack>_<key>_v<version>"; an empty value is generated once (24 random bytes) and kept. Swarm
 * secrets are immutable, so a changed value gets the next version and the old one is removed
 * after the deploy. The stack file refers to the name through secretNamePlaceholder(key).
 */

/** Docker's label on everything `docker stack deploy` creates. */
const NAMESPACE_LABEL = "com.docker.stack.namespace";
const STACKS_DIR = "/var/lib/dockfleet/stacks";

/** What the stack file holds where the versioned swarm secret name goes. */
export function secretNamePlaceholder(key: string): string {
  return `@@dockfleet-secret-name:${key}@@`;
}

export interface RegistryLogin {
  /** host:port */
  url: string;
  username: string;
  password: string;
}

interface SwarmStackInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  stackName: string;
  stackFile: string;
  /** Secret key -> value ("" = generate one). */
  secrets: Record<string, string>;
  /** Logged in (DOCKER_CONFIG of the stack alone) and passed to the nodes (--with-registry-auth). */
  registry?: RegistryLogin;
  /** Only carried so that the deploy waits for the swarm; a change (a new swarm) redeploys. */
  swarmReady: string;
  /** The stack publishes ports through the routing mesh: check the kernel has IPVS first. */
  requiresIpvs: boolean;
  /** How long the deploy waits for every service to run all its replicas. */
  convergeTimeoutSeconds: number;
}

interface SwarmStackOutputs extends SwarmStackInputs {
  /** Every secret's value, generated ones included. */
  secretValues: Record<string, string>;
  secretVersions: Record<string, number>;
  /** "<stack>_<service>" names, as `docker service ls` shows them. */
  services: string[];
}

function stackDir(stackName: string): string {
  return `${STACKS_DIR}/${stackName}`;
}

/** Pure: the values and versions after a deploy, given the previous outputs (if any). */
export function planStackSecrets(
  wanted: Record<string, string>,
  previous: Pick<SwarmStackOutputs, "secretValues" | "secretVersions"> | undefined,
  generate: () => string,
): { values: Record<string, string>; versions: Record<string, number> } {
  const values: Record<string, string> = {};
  const versions: Record<string, number> = {};
  for (const [key, given] of Object.entries(wanted)) {
    const before = previous?.secretValues[key];
    const value = given !== "" ? given : (before ?? generate());
    values[key] = value;
    const version = previous?.secretVersions[key] ?? 0;
    versions[key] = before === value ? version : version + 1;
  }
  return { values, versions };
}

/** Pure: the swarm secret name of one key at one version. */
export function swarmSecretName(stackName: string, key: string, version: number): string {
  return `${stackName}_${key}_v${version}`;
}

/** Pure: the stack file with each secret placeholder replaced by the versioned name. */
export function resolveStackFile(
  stackName: string,
  stackFile: string,
  versions: Record<string, number>,
): string {
  let resolved = stackFile;
  for (const [key, version] of Object.entries(versions)) {
    resolved = resolved
      .split(secretNamePlaceholder(key))
      .join(swarmSecretName(stackName, key, version));
  }
  const left = /@@dockfleet-secret-name:([^@]+)@@/.exec(resolved);
  if (left !== null) {
    throw new Error(
      `stack ${stackName}: the stack file refers to secret "${left[1]}", which is not in the ` +
        `stack's secrets (${Object.keys(versions).join(", ") || "none"}): add it to secrets`,
    );
  }
  return resolved;
}

async function run(client: SshClient, command: string, log: StepLog, stdin?: string) {
  log.progress(command.split("\n").at(-1) ?? command);
  return client.execOrThrow(command, stdin === undefined ? {} : { stdin });
}

async function deploy(
  inputs: SwarmStackInputs,
  previous: SwarmStackOutputs | undefined,
): Promise<SwarmStackOutputs> {
  const { values, versions } = planStackSecrets(inputs.secrets, previous, () =>
    randomBytes(24).toString("base64url"),
  );
  const stackFile = resolveStackFile(inputs.stackName, inputs.stackFile, versions);
  const name = inputs.stackName;
  const dir = stackDir(name);
  const dockerConfig = `DOCKER_CONFIG=${shellQuote(`${dir}/docker`)}`;
  const services = await runRemoteStep(
    inputs,
    `deploy stack ${name}`,
    async (client, log) => {
      if (inputs.requiresIpvs) await checkIpvs(client, inputs.host, name);
      await run(
        client,
        `install -d -m 0700 ${shellQuote(dir)} ${shellQuote(`${dir}/docker`)}`,
        log,
      );
      await client.putContent(`${dir}/stack.yml`, stackFile, 0o600);

      for (const [key, version] of Object.entries(versions)) {
        const secretName = swarmSecretName(name, key, version);
        const exists = await client.exec(`docker secret inspect ${shellQuote(secretName)}`);
        if (exists.code !== 0) {
          // The value goes through stdin: it is in no command line and no log.
          await run(
            client,
            `docker secret create --label ${NAMESPACE_LABEL}=${shellQuote(name)} ` +
              `--label dockfleet.io/secret-key=${shellQuote(key)} ${shellQuote(secretName)} -`,
            log,
            values[key],
          );
        }
      }

      const auth: string[] = [];
      if (inputs.registry !== undefined) {
        await run(
          client,
          `${dockerConfig} docker login --username ${shellQuote(inputs.registry.username)} ` +
            `--password-stdin ${shellQuote(inputs.registry.url)}`,
          log,
          inputs.registry.password,
        );
        auth.push("--with-registry-auth", "--resolve-image", "always");
      } else {
        auth.push("--resolve-image", "never");
      }
      await run(
        client,
        `${dockerConfig} docker stack deploy --prune ${auth.join(" ")} ` +
          `--compose-file ${shellQuote(`${dir}/stack.yml`)} ${shellQuote(name)}`,
        log,
      );

      await waitForConvergence(client, name, inputs.convergeTimeoutSeconds, log);
      await removeSecrets(
        client,
        name,
        log,
        new Set(Object.keys(versions).map((key) => swarmSecretName(name, key, versions[key]))),
      );
      const listed = await client.execOrThrow(
        `docker stack services --format '{{.Name}}' ${shellQuote(name)}`,
      );
      return listed.stdout.split("\n").filter(Boolean).sort();
    },
    { ownWaitMs: inputs.convergeTimeoutSeconds * 1000 },
  );
  return { ...inputs, secretValues: values, secretVersions: versions, services };
}

/** The routing mesh needs IPVS; without it published ports silently answer nothing. */
async function checkIpvs(client: SshClient, host: string, name: string): Promise<void> {
  const found = await client.exec(
    "test -d /proc/sys/net/ipv4/vs || modprobe ip_vs 2>/dev/null || grep -qw '^ip_vs' /proc/modules",
  );
  if (found.code !== 0) {
    throw new Error(
      `stack ${name}: the kernel of ${host} has no IPVS (ip_vs), which the swarm routing mesh ` +
        '(publish mode "ingress") needs: published ports would answer nothing. Set ' +
        'dockfleet:apps publishMode: "host" (one web task per node binds the port), or use ' +
        "hosts whose kernel has ip_vs.",
    );
  }
}

async function waitForConvergence(
  client: SshClient,
  name: string,
  timeoutSeconds: number,
  log: StepLog,
): Promise<void> {
  let pending: string[] = [];
  let listed = "";
  const converged = await pollUntil(
    async () => {
      listed = (
        await client.execOrThrow(
          `docker stack services --format ${SERVICE_REPLICAS_FORMAT} ${shellQuote(name)}`,
        )
      ).stdout;
      pending = servicesNotConverged(listed);
      return pending.length === 0 && listed.trim() !== "" ? true : undefined;
    },
    {
      timeoutMs: timeoutSeconds * 1000,
      intervalMs: 2000,
      onWait: () => {
        const replicas = replicaCounts(listed);
        log.progress(
          replicas.total === 0
            ? "waiting for the stack's services to be listed"
            : renderProgress({
                what: "replicas running",
                ...replicas,
                detail: `waiting for ${pending.join(", ")}`,
              }),
        );
      },
    },
  );
  if (converged) return;
  const tasks = await client.exec(
    `docker stack ps --no-trunc --format '{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}' ${shellQuote(name)} | head -n 20`,
  );
  throw new Error(
    `stack ${name}: services not running all their replicas after ${timeoutSeconds} s: ` +
      `${pending.join(", ")}\ntasks:\n${tasks.stdout.trim()}\n` +
      "Check that every node can pull the images (registry trust and login) and that the published ports are free.",
  );
}

/** Removes the stack's swarm secrets except `keep` (secrets still in use stay, quietly). */
async function removeSecrets(
  client: SshClient,
  name: string,
  log: StepLog,
  keep: Set<string>,
): Promise<void> {
  const listed = await client.execOrThrow(
    `docker secret ls --filter label=${NAMESPACE_LABEL}=${shellQuote(name)} --format '{{.Name}}'`,
  );
  for (const secret of listed.stdout.split("\n").filter(Boolean)) {
    if (keep.has(secret)) continue;
    const removed = await client.exec(`docker secret rm ${shellQuote(secret)}`);
    log.progress(removed.code === 0 ? `removed secret ${secret}` : `secret ${secret} still in use`);
  }
}

async function removeStack(props: SwarmStackOutputs): Promise<void> {
  const name = props.stackName;
  await runUndoStep(props, `remove stack ${name}`, async (client, log) => {
    await client.exec(`docker stack rm ${shellQuote(name)}`);
    const filter = `--filter label=${NAMESPACE_LABEL}=${shellQuote(name)}`;
    let left = "";
    let retriedNetworks = false;
    const gone = await pollUntil(
      async () => {
        const listed = await client.execOrThrow(
          `docker service ls -q ${filter}; echo --; docker network ls -q ${filter}; echo --; docker ps -aq ${filter}`,
        );
        const [services = [], networks = [], containers = []] = listed.stdout
          .split(/^--$/m)
          .map((part) => part.split("\n").filter(Boolean));
        left = Object.entries({ services, networks, containers })
          .filter(([, ids]) => ids.length > 0)
          .map(([what, ids]) => `${what} ${ids.join(", ")}`)
          .join("; ");
        if (services.length === 0 && networks.length > 0) {
          // docker stack rm tries each network once, at once, and gives up on one its tasks still
          // hold (moby/moby#31068); with the services gone, remove it again until it goes.
          if (!retriedNetworks) log.progress(`removing network(s) ${networks.join(", ")} again`);
          retriedNetworks = true;
          await client.exec(`docker network rm ${networks.map(shellQuote).join(" ")}`);
        }
        return left === "" ? true : undefined;
      },
      {
        timeoutMs: 180_000,
        intervalMs: 1000,
        onWait: () => log.progress("waiting for the stack's tasks and networks to go"),
      },
    );
    if (!gone) {
      throw new Error(`stack ${name}: still there 180 s after docker stack rm: ${left}`);
    }
    await removeSecrets(client, name, log, new Set());
    await client.execOrThrow(`rm -rf ${shellQuote(stackDir(name))}`);
  });
}

export const swarmStackProvider = withHostFacts<SwarmStackInputs, SwarmStackOutputs>(
  {
    async create(inputs) {
      const outs = await deploy(inputs, undefined);
      return { id: `${inputs.host}-stack-${inputs.stackName}`, outs };
    },
    async diff(_id, olds, news) {
      const replaces = olds.stackName !== news.stackName ? ["stackName"] : [];
      const secretsChanged =
        JSON.stringify(Object.keys(olds.secrets).sort()) !==
          JSON.stringify(Object.keys(news.secrets).sort()) ||
        Object.entries(news.secrets).some(
          ([key, value]) => value !== "" && value !== olds.secretValues[key],
        );
      const changes =
        replaces.length > 0 ||
        secretsChanged ||
        olds.stackFile !== news.stackFile ||
        olds.swarmReady !== news.swarmReady ||
        olds.requiresIpvs !== news.requiresIpvs ||
        JSON.stringify(olds.registry) !== JSON.stringify(news.registry) ||
        // The manager made anew (another key): deploy again there, and record it for the delete.
        isAnotherHost(olds.connection, news.connection) ||
        isReachedDifferently(olds.connection, news.connection);
      return { changes, replaces, deleteBeforeReplace: false };
    },
    async update(_id, olds, news) {
      return { outs: await deploy(news, olds) };
    },
    async delete(_id, props) {
      // A manager already gone (the environment destroyed first) leaves nothing to remove.
      await removeStack(props);
    },
  },
  // One fact per service of the stack, with its image: a service removed or changed by hand drifts.
  (outs) =>
    `docker service ls --filter ${shellQuote(`label=${NAMESPACE_LABEL}=${outs.stackName}`)} ` +
    `--format 'service:{{.Name}}={{.Image}}'`,
);

export interface SwarmStackArgs {
  /** The manager's name, for messages. */
  host: string;
  /** SSH to a swarm manager. */
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  stackName: string;
  /** Compose file (components/apps/plan.ts); secret names as secretNamePlaceholder(key). */
  stackFile: pulumi.Input<string>;
  /** Secret key -> value; "" generates a value once. Each is mounted at /run/secrets/<key>. */
  secrets?: Record<string, pulumi.Input<string>>;
  registry?: pulumi.Input<RegistryLogin>;
  swarmReady: pulumi.Input<string>;
  /** Check for IPVS before deploying (the stack publishes through the routing mesh). */
  requiresIpvs: boolean;
  /** @default 300 */
  convergeTimeoutSeconds?: number;
}

const swarmStackSpec = {
  type: "SwarmStack",
  module: __filename,
  provider: "swarmStackProvider",
  secrets: ["secrets", "registry", "secretValues"],
  outputs: ["secretValues", "secretVersions", "services"],
};

/** One swarm stack on a manager (see the provider above). */
export class SwarmStack extends DynamicResource {
  /** Every secret's value, generated ones included (a Pulumi secret). */
  declare readonly secretValues: pulumi.Output<Record<string, string>>;
  declare readonly services: pulumi.Output<string[]>;

  constructor(name: string, args: SwarmStackArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      swarmStackSpec,
      name,
      {
        ...args,
        secrets: args.secrets ?? {},
        convergeTimeoutSeconds: args.convergeTimeoutSeconds ?? 300,
      },
      opts,
    );
  }
}
