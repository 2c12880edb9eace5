import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";
import {
  NODE_ADDRESSES_COMMAND,
  planNodeRemoval,
  planNodeUpdate,
  planStaleNodes,
  planSwarmJoin,
  renderDockerCommand,
  type SwarmRole,
} from "../plan";
import type { SwarmAvailability } from "../config";
import { getSshClient } from "../../../provision/ssh/pool";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import type { StepLog } from "../../../provision/dynamic/log";
import {
  isAnotherHost,
  isReachedDifferently,
  isHostGone,
  runRemoteStep,
  type RemoteStepTarget,
} from "../../../provision/dynamic/remote-step";
import { pollUntil } from "../../../provision/dynamic/poll";
import {
  dropNode,
  getLocalSwarmState,
  inspectNode,
  joinSwarm,
  runDockerOn,
  SWARM_MEMBER_PROBE,
  withMembershipLock,
} from "./swarm-common";
import { withHostFacts } from "../../../provision/dynamic/host-facts";

interface SwarmNodeInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** The host's private address: advertised to the other nodes and listened on. */
  advertiseAddress: string;
  port: number;
  role: SwarmRole;
  availability: SwarmAvailability;
  labels: Record<string, string>;
  /** The first manager: in the swarm through `swarm init`, so it never joins or leaves here. */
  init: boolean;
  clusterId: string;
  /** The first manager's private address:port. */
  joinAddress: string;
  workerToken: string;
  managerToken: string;
  /** The first manager: node commands (labels, promote, drain, rm) run there. */
  manager: { host: string; connection: SshConnectionArgs };
}

interface SwarmNodeOutputs extends SwarmNodeInputs {
  nodeId: string;
}

const READY_TIMEOUT_MS = 90_000;
const DRAIN_TIMEOUT_MS = 60_000;
const DOWN_TIMEOUT_MS = 30_000;

function managerTarget(inputs: SwarmNodeInputs): RemoteStepTarget {
  return { ...inputs.manager, logUrn: inputs.logUrn };
}

/** Joins the host unless it is a node of this swarm already; returns its node ID. */
async function ensureJoined(inputs: SwarmNodeInputs): Promise<string> {
  return runRemoteStep(
    inputs,
    inputs.init ? "check swarm manager" : "join swarm",
    async (client, log) => {
      const local = await getLocalSwarmState(client);
      if (inputs.init) {
        if (local.state !== "active" || local.clusterId !== inputs.clusterId) {
          throw new Error(
            `${inputs.host} should manage swarm ${inputs.clusterId} but its state is ` +
              `${local.state} ${local.clusterId}: run \`pulumi up --refresh\` or re-create the swarm`,
          );
        }
        return local.nodeId;
      }
      const manager = await getSshClient(inputs.manager.connection);
      const known = (await inspectNode(manager, local.nodeId)) !== undefined;
      const action = planSwarmJoin(inputs.host, local, known);
      if (action === "member") {
        log.info(`already a node (${local.nodeId}) of the swarm: nothing to do`);
        return local.nodeId;
      }
      if (action === "leave-and-join") {
        log.warn(`swarm state ${local.state} (${local.error}): leaving, then joining again`);
        await client.execOrThrow("docker swarm leave --force");
      }
      await joinSwarm(client, {
        advertiseAddress: inputs.advertiseAddress,
        port: inputs.port,
        joinAddress: inputs.joinAddress,
        token: inputs.role === "manager" ? inputs.managerToken : inputs.workerToken,
      });
      const joined = await getLocalSwarmState(client);
      if (joined.state !== "active" || joined.nodeId === "") {
        throw new Error(
          `${inputs.host} did not become an active node after docker swarm join ` +
            `(state ${joined.state}${joined.error ? `: ${joined.error}` : ""})`,
        );
      }
      log.info(`joined as ${inputs.role} (node ${joined.nodeId})`);
      const listing = await manager.execOrThrow(NODE_ADDRESSES_COMMAND);
      for (const stale of planStaleNodes(listing.stdout, joined.nodeId)) {
        log.info(`removing node ${stale.id}, which an earlier machine of ${inputs.host} left`);
        await dropNode(manager, stale, log);
      }
      return joined.nodeId;
    },
  );
}

/** Role, labels and availability, set through the first manager; waits until the node is ready. */
async function applySettings(
  inputs: SwarmNodeInputs,
  nodeId: string,
  previousLabels: Record<string, string>,
): Promise<void> {
  await runRemoteStep(
    managerTarget(inputs),
    `settings of node ${inputs.host}`,
    async (client, log) => {
      const ready = await pollUntil(
        async () => {
          const node = await inspectNode(client, nodeId);
          return node?.state === "ready" ? node : undefined;
        },
        { timeoutMs: READY_TIMEOUT_MS },
      );
      if (ready === undefined) {
        throw new Error(
          `node ${inputs.host} (${nodeId}) did not become ready within ${READY_TIMEOUT_MS / 1000} s: ` +
            `check \`docker node ls\` on ${inputs.manager.host} and that ${inputs.advertiseAddress} ` +
            `reaches ${inputs.joinAddress} (swarm needs 2377/tcp, 7946/tcp+udp and 4789/udp)`,
        );
      }
      const commands = planNodeUpdate(ready, inputs, previousLabels);
      const changesMembership = commands.some(
        ([, verb]) => verb === "promote" || verb === "demote",
      );
      const run = async () => {
        for (const command of commands) await runDockerOn(client, command, log);
        if (inputs.role === "manager") await waitReachable(inputs, nodeId, log);
      };
      if (changesMembership) {
        await withMembershipLock(inputs.clusterId, run);
      } else {
        await run();
      }
      log.info(commands.length === 0 ? "settings as wanted: nothing to do" : "settings applied");
    },
  );
}

async function waitReachable(inputs: SwarmNodeInputs, nodeId: string, log: StepLog) {
  const client = await getSshClient(inputs.manager.connection);
  const reachable = await pollUntil(
    async () => {
      const node = await inspectNode(client, nodeId);
      return node?.role === "manager" && node.reachability === "reachable" ? node : undefined;
    },
    { timeoutMs: READY_TIMEOUT_MS },
  );
  if (reachable === undefined) {
    throw new Error(`manager ${inputs.host} (${nodeId}) did not become reachable in the raft`);
  }
  log.progress("manager reachable");
}

/** Drain, demote, leave, remove: the node's tasks move elsewhere before it goes. */
async function removeNode(props: SwarmNodeOutputs): Promise<void> {
  const manager = managerTarget(props);
  let observed;
  let managerReachable = true;
  try {
    observed = await runRemoteStep(manager, `look up node ${props.host}`, (client) =>
      inspectNode(client, props.nodeId),
    );
  } catch (error) {
    if (!isHostGone(error)) throw error;
    managerReachable = false;
  }
  const steps = managerReachable ? planNodeRemoval(observed) : ["leave" as const];
  if (steps.includes("drain") || steps.includes("demote")) {
    await runRemoteStep(manager, `drain node ${props.host}`, async (client, log) => {
      if (steps.includes("drain")) {
        await runDockerOn(client, ["node", "update", "--availability", "drain", props.nodeId], log);
        const drained = await pollUntil(
          async () => {
            const tasks = await client.execOrThrow(
              renderDockerCommand(["node", "ps", props.nodeId, "--format", "{{.CurrentState}}"]),
            );
            return /^(Running|Starting|Preparing|Assigned|Accepted)/m.test(tasks.stdout)
              ? undefined
              : true;
          },
          { timeoutMs: DRAIN_TIMEOUT_MS },
        );
        if (drained === undefined)
          log.warn("tasks still running after the drain timeout: going on");
      }
      if (steps.includes("demote")) {
        await runDockerOn(client, ["node", "demote", props.nodeId], log);
      }
    });
  }
  let left = false;
  try {
    await runRemoteStep(
      props,
      "leave swarm",
      async (client, log) => {
        const done = await pollUntil(
          async () => {
            const local = await getLocalSwarmState(client);
            if (local.state === "inactive") return true;
            // A demoted manager needs a moment to notice; until then a plain leave is refused.
            const result = await client.exec("docker swarm leave");
            return result.code === 0 ? true : undefined;
          },
          { timeoutMs: 20_000 },
        );
        if (done === undefined) {
          log.warn("docker swarm leave refused: leaving with --force");
          await client.execOrThrow("docker swarm leave --force");
        }
        left = true;
        log.info("left the swarm");
      },
      { connectDeadlineMs: 15_000 },
    );
  } catch (error) {
    if (!isHostGone(error)) throw error;
  }
  if (steps.includes("remove")) {
    await runRemoteStep(manager, `remove node ${props.host}`, async (client, log) => {
      // The managers mark a node down only after missed heartbeats (10-15 s): one that is known
      // to have left is removed at once; an unreachable one once it is seen down (or after 30 s).
      const down =
        left ||
        (await pollUntil(
          async () => {
            const node = await inspectNode(client, props.nodeId);
            return node === undefined || node.state === "down" ? true : undefined;
          },
          { timeoutMs: DOWN_TIMEOUT_MS },
        ));
      if ((await inspectNode(client, props.nodeId)) === undefined) return;
      if (!down) log.warn("not seen down: removing it anyway");
      await runDockerOn(client, ["node", "rm", "--force", props.nodeId], log);
    });
  }
}

/** Inputs whose change makes the node another node: it leaves and joins anew. */
const REPLACE_KEYS = ["advertiseAddress", "port", "init", "clusterId"] as const;
/** Inputs applied in place through the manager. */
const SETTING_KEYS = ["role", "availability", "joinAddress", "host"] as const;

export const swarmNodeProvider = withHostFacts<SwarmNodeInputs, SwarmNodeOutputs>(
  {
    async create(inputs) {
      const nodeId = inputs.init
        ? await ensureJoined(inputs)
        : await withMembershipLock(inputs.clusterId, () => ensureJoined(inputs));
      await applySettings(inputs, nodeId, {});
      return { id: `${inputs.host}-swarm-node-${nodeId}`, outs: { ...inputs, nodeId } };
    },
    async diff(_id, olds, news) {
      const replaces: string[] = REPLACE_KEYS.filter((key) => olds[key] !== news[key]);
      if (isAnotherHost(olds.connection, news.connection)) replaces.push("connection");
      // Join tokens matter only when joining: a rotated token changes nothing on a member.
      const changes =
        replaces.length > 0 ||
        SETTING_KEYS.some((key) => olds[key] !== news[key]) ||
        JSON.stringify(olds.labels) !== JSON.stringify(news.labels) ||
        isReachedDifferently(olds.connection, news.connection) ||
        olds.manager.host !== news.manager.host ||
        isAnotherHost(olds.manager.connection, news.manager.connection) ||
        isReachedDifferently(olds.manager.connection, news.manager.connection);
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id, olds, news) {
      // Still a member (re-joins when it left behind Pulumi's back), then the new settings.
      const nodeId = news.init
        ? await ensureJoined(news)
        : await withMembershipLock(news.clusterId, () => ensureJoined(news));
      await applySettings(news, nodeId, olds.labels);
      return { outs: { ...news, nodeId } };
    },
    async delete(_id, props) {
      // The first manager goes with the swarm itself (SwarmInit's delete).
      if (props.init) return;
      await withMembershipLock(props.clusterId, () => removeNode(props));
    },
  },
  () => SWARM_MEMBER_PROBE,
);

export interface SwarmNodeArgs {
  host: string;
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  advertiseAddress: pulumi.Input<string>;
  port: number;
  role: SwarmRole;
  availability: SwarmAvailability;
  labels: Record<string, string>;
  init: boolean;
  clusterId: pulumi.Input<string>;
  joinAddress: pulumi.Input<string>;
  workerToken: pulumi.Input<string>;
  managerToken: pulumi.Input<string>;
  manager: pulumi.Input<{ host: string; connection: pulumi.Input<SshConnectionArgs> }>;
}

const swarmNodeSpec = {
  type: "SwarmNode",
  module: __filename,
  provider: "swarmNodeProvider",
  secrets: ["workerToken", "managerToken", "manager"],
  outputs: ["nodeId"],
};

/**
 * One host as a swarm node: joined with the token for its role (skipped when it is a node of the
 * swarm already), then labels, availability and role set through the first manager. Changing
 * those updates the node in place; deleting it drains it, demotes it if it manages, makes it
 * leave and removes it from the node list.
 */
export class SwarmNode extends DynamicResource {
  declare readonly nodeId: pulumi.Output<string>;

  constructor(name: string, args: SwarmNodeArgs, opts?: pulumi.CustomResourceOptions) {
    super(swarmNodeSpec, name, args, opts);
  }
}
