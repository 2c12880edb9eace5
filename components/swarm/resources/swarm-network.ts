import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import type { SwarmNetworkConfig } from "../config";
import {
  parseNetworkInspect,
  planNetwork,
  renderDockerCommand,
  renderNetworkCreateArgs,
  type ObservedNetwork,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  isAnotherHost,
  isHostGone,
  isReachedDifferently,
  runRemoteStep,
} from "../../../provision/dynamic/remote-step";
import { runDockerOn } from "./swarm-common";
import { withHostFacts } from "../../../provision/dynamic/host-facts";
import { shellQuote } from "../../../provision/ssh/shell";

interface SwarmNetworkInputs {
  /** The manager the network is created through. */
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  network: SwarmNetworkConfig;
  /** Labels on the network, so that it can be found without state. */
  labels: Record<string, string>;
  /** The swarm's ID: a new swarm has none of the old networks. */
  clusterId: string;
}

type SwarmNetworkOutputs = SwarmNetworkInputs;

async function inspectNetwork(
  client: SshClient,
  name: string,
): Promise<ObservedNetwork | undefined> {
  const result = await client.exec(renderDockerCommand(["network", "inspect", name]));
  if (result.code !== 0) {
    if (/no such network|not found/i.test(result.stderr)) return undefined;
    throw new Error(
      `docker network inspect ${name} failed on ${client.target} (exit ${result.code}): ` +
        result.stderr.trim(),
    );
  }
  return parseNetworkInspect(result.stdout);
}

async function ensureNetwork(inputs: SwarmNetworkInputs): Promise<void> {
  await runRemoteStep(inputs, `overlay network ${inputs.network.name}`, async (client, log) => {
    const action = planNetwork(inputs.network, await inspectNetwork(client, inputs.network.name));
    if (action === "exists") {
      log.info("exists as wanted: nothing to do");
      return;
    }
    await runDockerOn(client, renderNetworkCreateArgs(inputs.network, inputs.labels), log);
    log.info(`created${inputs.network.encrypted ? " (encrypted)" : ""}`);
  });
}

export const swarmNetworkProvider = withHostFacts<SwarmNetworkInputs, SwarmNetworkOutputs>(
  {
    async create(inputs) {
      await ensureNetwork(inputs);
      return { id: `${inputs.clusterId}-network-${inputs.network.name}`, outs: inputs };
    },
    async diff(_id, olds, news) {
      // Docker changes no option of an existing network: any change is a new network.
      const replaces: string[] = [];
      if (JSON.stringify(olds.network) !== JSON.stringify(news.network)) replaces.push("network");
      if (JSON.stringify(olds.labels) !== JSON.stringify(news.labels)) replaces.push("labels");
      if (olds.clusterId !== news.clusterId) replaces.push("clusterId");
      const changes =
        replaces.length > 0 ||
        olds.host !== news.host ||
        isAnotherHost(olds.connection, news.connection) ||
        isReachedDifferently(olds.connection, news.connection);
      // Same name: the old network must be gone before the new one is created.
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id, _olds, news) {
      await ensureNetwork(news);
      return { outs: news };
    },
    async delete(_id, props) {
      try {
        await runRemoteStep(
          props,
          `remove overlay network ${props.network.name}`,
          async (client, log) => {
            const local = await client.exec("docker info --format '{{.Swarm.LocalNodeState}}'");
            if (local.stdout.trim() !== "active") {
              log.info("not in a swarm any more: the network is gone with it");
              return;
            }
            if ((await inspectNetwork(client, props.network.name)) === undefined) {
              log.info("already gone");
              return;
            }
            try {
              await runDockerOn(client, ["network", "rm", props.network.name], log);
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error);
              if (/in use|active endpoints/i.test(message)) {
                throw new Error(
                  `overlay network ${props.network.name} is still in use: remove the services and ` +
                    `containers attached to it first (docker network inspect ${props.network.name})\n${message}`,
                );
              }
              throw error;
            }
          },
          { connectDeadlineMs: 15_000 },
        );
      } catch (error) {
        if (!isHostGone(error)) throw error;
      }
    },
  },
  // The network as its manager sees it: recreated by hand, it has another ID.
  (outs) =>
    `echo "network=$(docker network inspect --format '{{.Id}} {{.Driver}} {{.Scope}}' ` +
    `${shellQuote(outs.network.name)} || echo missing)"`,
);

export type SwarmNetworkArgs = ResourceArgs<SwarmNetworkInputs>;

const swarmNetworkSpec = {
  type: "SwarmNetwork",
  module: __filename,
  provider: "swarmNetworkProvider",
};

/** An overlay network of the swarm, created through a manager (kept when it exists as wanted). */
export class SwarmNetwork extends DynamicResource {
  constructor(name: string, args: SwarmNetworkArgs, opts?: pulumi.CustomResourceOptions) {
    super(swarmNetworkSpec, name, args, opts);
  }
}
