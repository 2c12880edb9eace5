import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/dynamic/log";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { SwarmInit } from "./resources/swarm-init";
import { SwarmNetwork } from "./resources/swarm-network";
import { SwarmNode } from "./resources/swarm-node";
import { planSwarm, type SwarmPlan, type SwarmRole } from "./plan";
import type { CertificatePair, DockerEngine } from "../engine/docker-engine";
import { type Machine, privateIpAddress } from "../machines/machine";
import {
  resolveSwarmConfig,
  type SwarmAvailability,
  type SwarmConfig,
  type SwarmConfigInput,
} from "./config";

export interface SwarmClusterArgs {
  /**
   * The engines the swarm may use, in order (an Environment's `engines`). Which of them join, and
   * as what, follows `config.hosts`, `config.managers` and `config.workers`: by default the first
   * engine inits the swarm and manages it, every other one joins as a worker. Commands go over
   * each machine's SSH connection, to the local Docker socket.
   */
  engines: DockerEngine[];
  /**
   * The `dockfleet:swarm` settings (see docs/components/swarm.md), defaults applied here by
   * resolveSwarmConfig; `enabled` is not read here. @default {}
   */
  config?: SwarmConfigInput;
}

/** One node as the swarm's users see it. */
export interface SwarmNodeSummary {
  name: string;
  role: SwarmRole;
  availability: SwarmAvailability;
  nodeId: string;
}

export interface ResolvedSwarmArgs {
  config: SwarmConfig;
  plan: SwarmPlan;
}

/**
 * Pure: the swarm's config with every default applied, and the plan for these engines' hosts.
 * Throws a ConfigError for a bad setting, and an error with the key, the value and the fix when
 * the settings cannot make a swarm of these hosts.
 */
export function resolveSwarmArgs(args: SwarmClusterArgs): ResolvedSwarmArgs {
  const config = resolveSwarmConfig(args.config);
  const names = args.engines.map((engine) => engine.machine.name);
  return { config, plan: planSwarm(names, config) };
}

/**
 * A Docker swarm over a set of engines: `docker swarm init` on the first manager's private
 * address, the other hosts joined with tokens kept as secrets, node labels and availability, and
 * overlay networks. Adding a host joins it; removing one drains it, makes it leave and removes the
 * node. On a formed swarm nothing is done again: every step checks the host's swarm state first.
 */
export class SwarmCluster extends pulumi.ComponentResource {
  /** The first manager: it inits the swarm; node changes and `docker stack deploy` go through it. */
  readonly manager: Machine;
  /** The first manager's engine: `docker service` and `docker stack` commands go to it. */
  readonly managerEngine: DockerEngine;
  /** The first manager's private address:port, where nodes join. */
  readonly managerAddress: pulumi.Output<string>;
  /** The swarm's ID. */
  readonly clusterId: pulumi.Output<string>;
  /** Resolves (to the swarm's ID) once every node joined with its labels and the networks exist. */
  readonly ready: pulumi.Output<string>;
  /** Every node with its role and availability, once it is in the swarm. */
  readonly nodes: pulumi.Output<SwarmNodeSummary[]>;
  /** The overlay networks' names, once they exist. */
  readonly networks: pulumi.Output<string[]>;
  /** Join tokens (secrets), for hosts joined outside dockfleet. */
  readonly workerJoinToken: pulumi.Output<string>;
  readonly managerJoinToken: pulumi.Output<string>;
  /** Who inits, who joins as what: worked out before anything is created. */
  readonly plan: SwarmPlan;

  constructor(name: string, args: SwarmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:swarm:SwarmCluster", name, {}, opts);
    const resolved = resolveOrFail(this, () => resolveSwarmArgs(args));
    const { plan } = resolved;
    this.plan = plan;
    for (const warning of plan.warnings) pulumi.log.warn(warning, this);

    const engineOf = new Map(args.engines.map((engine) => [engine.machine.name, engine]));
    const initEngine = engineOf.get(plan.initNode) as DockerEngine;
    this.manager = initEngine.machine;
    this.managerEngine = initEngine;
    const logUrn = logUrnOf(this);
    const managerIp = privateIpAddress(this.manager, "the swarm");
    const init = new SwarmInit(
      `${name}-init`,
      {
        host: this.manager.name,
        connection: this.manager.ssh,
        logUrn,
        advertiseAddress: managerIp,
        port: plan.port,
        managers: plan.nodes
          .filter((node) => node.role === "manager" && !node.init)
          .map((node) => {
            const machine = (engineOf.get(node.name) as DockerEngine).machine;
            return pulumi.output({
              host: node.name,
              connection: machine.ssh,
              advertiseAddress: privateIpAddress(machine, "the swarm"),
            });
          }),
      },
      { parent: this, dependsOn: [initEngine] },
    );
    this.clusterId = init.clusterId;
    this.managerAddress = pulumi.interpolate`${managerIp}:${plan.port}`;
    this.workerJoinToken = pulumi.secret(init.workerToken);
    this.managerJoinToken = pulumi.secret(init.managerToken);

    const managerConnection = { host: this.manager.name, connection: this.manager.ssh };
    const nodes = plan.nodes.map((node) => {
      const engine = engineOf.get(node.name) as DockerEngine;
      return new SwarmNode(
        `${name}-${node.name}`,
        {
          host: node.name,
          connection: engine.machine.ssh,
          logUrn,
          advertiseAddress: privateIpAddress(engine.machine, "the swarm"),
          port: plan.port,
          role: node.role,
          availability: node.availability,
          labels: node.labels,
          init: node.init,
          clusterId: init.clusterId,
          joinAddress: this.managerAddress,
          workerToken: init.workerToken,
          managerToken: init.managerToken,
          manager: managerConnection,
        },
        { parent: this, dependsOn: [engine, init] },
      );
    });
    const networkLabels = { "dockfleet.io/stack": pulumi.getStack(), "dockfleet.io/swarm": name };
    const networks = plan.networks.map(
      (network) =>
        new SwarmNetwork(
          `${name}-network-${network.name}`,
          {
            host: this.manager.name,
            connection: this.manager.ssh,
            logUrn,
            network,
            labels: networkLabels,
            clusterId: init.clusterId,
          },
          { parent: this, dependsOn: [init] },
        ),
    );

    this.nodes = pulumi.all(nodes.map((node) => node.nodeId)).apply((ids) =>
      plan.nodes.map((node, index) => ({
        name: node.name,
        role: node.role,
        availability: node.availability,
        nodeId: ids[index],
      })),
    );
    this.networks = pulumi
      .all(networks.map((network) => network.id))
      .apply(() => plan.networks.map((network) => network.name));
    this.ready = pulumi
      .all([init.clusterId, this.nodes, this.networks])
      .apply(([clusterId]) => clusterId);
    this.registerOutputs({
      managerAddress: this.managerAddress,
      clusterId: this.clusterId,
      ready: this.ready,
      nodes: this.nodes,
      networks: this.networks,
      workerJoinToken: this.workerJoinToken,
      managerJoinToken: this.managerJoinToken,
    });
  }

  /**
   * A ready `@pulumi/docker` Provider on the first manager, for `docker.Service` and other swarm
   * resources of your own (made on request: it needs the docker resource plugin).
   */
  dockerProvider(client: CertificatePair, opts?: pulumi.ResourceOptions): docker.Provider {
    return this.managerEngine.dockerProvider(client, opts);
  }
}
