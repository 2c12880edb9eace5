import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import {
  planInitHostRecovery,
  planSwarmInit,
  renderDockerCommand,
  renderSwarmInitCommand,
  type SurvivingManager,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  isAnotherHost,
  isHostGone,
  isReachedDifferently,
  runRemoteStep,
  UNDO_CONNECT_DEADLINE_MS,
} from "../../../provision/dynamic/remote-step";
import type { StepLog } from "../../../provision/dynamic/log";
import { getSshClient } from "../../../provision/ssh/pool";
import {
  dropNode,
  getLocalSwarmState,
  inspectNode,
  joinSwarm,
  SWARM_MEMBER_PROBE,
  withMembershipLock,
} from "./swarm-common";
import { withHostFacts } from "../../../provision/dynamic/host-facts";

interface SwarmInitInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** The host's private address: advertised to the other nodes and listened on. */
  advertiseAddress: string;
  port: number;
  /**
   * The other planned managers: when this host's machine is made anew, it rejoins the swarm
   * they still hold instead of making another one (planInitHostRecovery).
   */
  managers?: SwarmManagerPeer[];
}

interface SwarmManagerPeer {
  host: string;
  connection: SshConnectionArgs;
  advertiseAddress: string;
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

/** What each other planned manager says of the swarm; a host that does not answer says nothing. */
async function surveyManagers(
  inputs: SwarmInitInputs,
): Promise<Array<SurvivingManager & { peer: SwarmManagerPeer }>> {
  return Promise.all(
    (inputs.managers ?? []).map(async (peer) => {
      try {
        return await runRemoteStep(
          { host: peer.host, connection: peer.connection, logUrn: inputs.logUrn },
          `swarm state (for ${inputs.host})`,
          async (client) => {
            const local = await getLocalSwarmState(client);
            const listed = await client.exec(renderDockerCommand(["node", "ls", "--quiet"]));
            return { host: peer.host, local, hasLeader: listed.code === 0, peer };
          },
          { connectDeadlineMs: UNDO_CONNECT_DEADLINE_MS },
        );
      } catch {
        // Gone, or made anew as well and without Docker yet: it holds no swarm.
        return { host: peer.host, hasLeader: false, peer };
      }
    }),
  );
}

/**
 * When the host's machine was made anew (its Docker in no swarm) and another planned manager
 * still holds the swarm this resource made (`olds`), joins it there as a manager, after taking
 * the node its old machine left out of the list. False when it did not (a new swarm is due).
 */
async function rejoinKeptSwarm(
  client: SshClient,
  inputs: SwarmInitInputs,
  olds: SwarmInitOutputs,
  log: StepLog,
): Promise<boolean> {
  const recovery = planInitHostRecovery(inputs.host, olds.clusterId, await surveyManagers(inputs));
  if (recovery.kind === "init") {
    log.warn(recovery.warning);
    return false;
  }
  const through = recovery.through.peer;
  const manager = await getSshClient(through.connection);
  await withMembershipLock(olds.clusterId, async () => {
    const old = await inspectNode(manager, olds.nodeId);
    if (old !== undefined) await dropNode(manager, old, log);
    await joinSwarm(client, {
      advertiseAddress: inputs.advertiseAddress,
      port: inputs.port,
      joinAddress: `${through.advertiseAddress}:${inputs.port}`,
      token: await readJoinToken(manager, "manager"),
    });
  });
  log.info(`rejoined swarm ${olds.clusterId} as a manager through ${through.host}`);
  return true;
}

/**
 * Makes sure the host manages a swarm: inits one, or keeps the one it manages. `olds`, on an
 * update, is the swarm this resource made: when the host's machine was made anew, it rejoins
 * that swarm if another manager still holds it.
 */
async function ensureSwarm(
  inputs: SwarmInitInputs,
  olds?: SwarmInitOutputs,
): Promise<SwarmInitOutputs> {
  return runRemoteStep(inputs, "swarm init", async (client, log) => {
    const before = await getLocalSwarmState(client);
    const action = planSwarmInit(inputs.host, before, inputs.advertiseAddress);
    if (action.kind === "init") {
      const rejoined = olds !== undefined && (await rejoinKeptSwarm(client, inputs, olds, log));
      if (!rejoined) {
        await client.execOrThrow(renderSwarmInitCommand(inputs.advertiseAddress, inputs.port), {
          // Docker prints the worker join command, token included: keep it out of the log.
          onStderr: (line) => log.progress(line),
        });
        log.info(`swarm initialized, advertised at ${inputs.advertiseAddress}:${inputs.port}`);
      }
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
      // Another host as the first manager is another swarm. The same host made anew is an
      // update: it rejoins the swarm the other managers kept, which a replacement could not
      // (it would take every node out of that swarm first).
      if (isAnotherHost(olds.connection, news.connection) && olds.host !== news.host) {
        replaces.push("connection");
      }
      if (olds.advertiseAddress !== news.advertiseAddress) replaces.push("advertiseAddress");
      if (olds.port !== news.port) replaces.push("port");
      const changes =
        replaces.length > 0 ||
        olds.host !== news.host ||
        isAnotherHost(olds.connection, news.connection) ||
        isReachedDifferently(olds.connection, news.connection);
      // The same name on the same host: the old swarm must be gone before the new one inits.
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id, olds, news) {
      // A new login key, or the machine made anew: the swarm is still there, or rejoined.
      return { outs: await ensureSwarm(news, olds) };
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
  secrets: ["workerToken", "managerToken", "managers"],
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
