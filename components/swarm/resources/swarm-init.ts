import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { planSwarmInit, renderSwarmInitCommand } from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  isAnotherHost,
  isHostGone,
  isReachedDifferently,
  runRemoteStep,
} from "../../../provision/dynamic/remote-step";
import { getLocalSwarmState, SWARM_MEMBER_PROBE } from "./swarm-common";
import { withHostFacts } from "../../../provision/dynamic/host-facts";

interface SwarmInitInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** The host's private address: advertised to the other nodes and listened on. */
  advertiseAddress: string;
  port: number;
}

interface SwarmInitOutputs extends SwarmInitInputs {
  /** The swarm's ID: a new one means a new swarm, and every node joins it anew. */
  clusterId: string;
  /** The first manager's node ID. */
  nodeId: string;
  workerToken: string;
  managerToken: string;
}

/** Reads a join token without logging it or letting it into an error message. */
async function readJoinToken(client: SshClient, role: "worker" | "manager"): Promise<string> {
  const result = await client.exec(`docker swarm join-token --quiet ${role}`);
  const token = result.stdout.trim();
  if (result.code !== 0 || !/^SWMTKN-\S+$/.test(token)) {
    throw new Error(
      `could not read the ${role} join token on ${client.target} (exit ${result.code}): ` +
        (result.stderr.trim().split("\n").pop() ?? "no error output"),
    );
  }
  return token;
}

async function ensureSwarm(inputs: SwarmInitInputs): Promise<SwarmInitOutputs> {
  return runRemoteStep(inputs, "swarm init", async (client, log) => {
    const before = await getLocalSwarmState(client);
    const action = planSwarmInit(inputs.host, before, inputs.advertiseAddress);
    if (action.kind === "init") {
      await client.execOrThrow(renderSwarmInitCommand(inputs.advertiseAddress, inputs.port), {
        // Docker prints the worker join command, token included: keep it out of the log.
        onStderr: (line) => log.progress(line),
      });
      log.info(`swarm initialized, advertised at ${inputs.advertiseAddress}:${inputs.port}`);
    } else {
      if (action.warning) log.warn(action.warning);
      log.info("already manages the swarm: nothing to do");
    }
    const after = await getLocalSwarmState(client);
    if (after.state !== "active" || !after.isManager || after.clusterId === "") {
      throw new Error(
        `${inputs.host} is not an active manager after swarm init (state ${after.state}` +
          `${after.error ? `: ${after.error}` : ""})`,
      );
    }
    return {
      ...inputs,
      clusterId: after.clusterId,
      nodeId: after.nodeId,
      workerToken: await readJoinToken(client, "worker"),
      managerToken: await readJoinToken(client, "manager"),
    };
  });
}

export const swarmInitProvider = withHostFacts<SwarmInitInputs, SwarmInitOutputs>(
  {
    async create(inputs) {
      const outs = await ensureSwarm(inputs);
      return { id: `${inputs.host}-swarm-${outs.clusterId}`, outs };
    },
    async diff(_id, olds, news) {
      const replaces: string[] = [];
      if (isAnotherHost(olds.connection, news.connection)) replaces.push("connection");
      if (olds.advertiseAddress !== news.advertiseAddress) replaces.push("advertiseAddress");
      if (olds.port !== news.port) replaces.push("port");
      const changes =
        replaces.length > 0 ||
        olds.host !== news.host ||
        isReachedDifferently(olds.connection, news.connection);
      // The same name on the same host: the old swarm must be gone before the new one inits.
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id, _olds, news) {
      // A new login key or host label: check the swarm is still there, keep its ID and tokens.
      return { outs: await ensureSwarm(news) };
    },
    async delete(_id, props) {
      try {
        await runRemoteStep(
          props,
          "swarm leave (last manager)",
          async (client, log) => {
            const local = await getLocalSwarmState(client);
            if (local.state === "inactive") {
              log.info("not in a swarm: nothing to do");
              return;
            }
            if (local.clusterId !== "" && local.clusterId !== props.clusterId) {
              log.warn(`manages another swarm (${local.clusterId}) now: left as it is`);
              return;
            }
            await client.execOrThrow("docker swarm leave --force");
            log.info("left: the swarm is gone");
          },
          { connectDeadlineMs: 15_000 },
        );
      } catch (error) {
        // A host that is already gone took its swarm with it.
        if (!isHostGone(error)) throw error;
      }
    },
  },
  () => SWARM_MEMBER_PROBE,
);

export type SwarmInitArgs = ResourceArgs<SwarmInitInputs>;

const swarmInitSpec = {
  type: "SwarmInit",
  module: __filename,
  provider: "swarmInitProvider",
  secrets: ["workerToken", "managerToken"],
  outputs: ["clusterId", "nodeId", "workerToken", "managerToken"],
};

/**
 * `docker swarm init` on the first manager, on its private address. Its outputs are the swarm's
 * ID and the join tokens (secrets); deleting it makes that manager leave, which ends the swarm.
 */
export class SwarmInit extends DynamicResource {
  declare readonly clusterId: pulumi.Output<string>;
  declare readonly nodeId: pulumi.Output<string>;
  declare readonly workerToken: pulumi.Output<string>;
  declare readonly managerToken: pulumi.Output<string>;

  constructor(name: string, args: SwarmInitArgs, opts?: pulumi.CustomResourceOptions) {
    super(swarmInitSpec, name, args, opts);
  }
}
