import type { SwarmAvailability, SwarmConfig, SwarmNetworkConfig } from "./config";
import { type ConfigIssue, configError } from "../../provision/config/errors";
import { shellQuote } from "../../provision/ssh/shell";

/**
 * Pure planning for a swarm: who inits, who joins as what, which labels and availability each
 * node gets, and, given what a host reports, which commands bring it there. The providers
 * (components/swarm/resources/) run the commands; nothing here touches a host.
 */

export type SwarmRole = "manager" | "worker";

export interface PlannedSwarmNode {
  /** Host name (the Machine's name). */
  name: string;
  role: SwarmRole;
  /** Runs `docker swarm init`; every other node joins through it. */
  init: boolean;
  availability: SwarmAvailability;
  /** Node labels dockfleet manages on this node. */
  labels: Record<string, string>;
}

export interface SwarmPlan {
  /** The first manager: it inits the swarm and every change goes through it. */
  initNode: string;
  /** Every node, managers first, in the order of the host list. */
  nodes: PlannedSwarmNode[];
  /** Hosts of the environment that stay out of the swarm. */
  outside: string[];
  networks: SwarmNetworkConfig[];
  port: number;
  /** Things allowed but unwise (an even number of managers): the component logs them. */
  warnings: string[];
}

const KEY = "dockfleet:swarm";

/** The hosts a config puts in the swarm, in order: managers first, then workers. */
function swarmMembers(hostNames: readonly string[], config: SwarmConfig) {
  const members = config.hosts ?? [...hostNames];
  const workerCount = config.workers ?? members.length - config.managers;
  return { members, workerCount, inSwarm: members.slice(0, config.managers + workerCount) };
}

/**
 * Pure: why the config cannot make a swarm of these hosts (in order), each with its path inside
 * the swarm config. The stack schema reports them before any resource exists; planSwarm throws
 * them for a SwarmCluster used on its own.
 */
export function swarmPlanIssues(hostNames: readonly string[], config: SwarmConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const known = new Set(hostNames);
  (config.hosts ?? []).forEach((name, index) => {
    if (!known.has(name)) {
      issues.push({
        path: ["hosts", index],
        message: `must be a host of this environment (${hostNames.join(", ")})`,
      });
    }
  });
  if (issues.length > 0) return issues;
  // The schema's own minimum, again for a config that did not come through it.
  if (!Number.isInteger(config.managers) || config.managers < 1) {
    return [{ path: ["managers"], message: "must be at least 1" }];
  }
  const { members, workerCount, inSwarm } = swarmMembers(hostNames, config);
  const listed = `${members.length}: ${members.join(", ") || "none"}`;
  if (config.managers > members.length) {
    issues.push({
      path: ["managers"],
      message: `must be at most the number of swarm hosts (${listed}): lower managers or add hosts`,
    });
  } else if (config.managers + workerCount > members.length) {
    issues.push({
      path: ["workers"],
      message:
        `must be at most the swarm hosts left after ${config.managers} manager(s) ` +
        `(${members.length - config.managers} of ${listed}): lower workers or add hosts`,
    });
  } else {
    for (const name of Object.keys(config.nodes)) {
      if (!inSwarm.includes(name)) {
        issues.push({
          path: ["nodes", name],
          message: `is not a node of the swarm (${inSwarm.join(", ")}): remove its settings or add the host`,
        });
      }
    }
  }
  return issues;
}

/**
 * Works out the swarm from the environment's host names (in order) and the resolved config.
 * Throws a ConfigError (swarmPlanIssues) for a plan that cannot be met.
 */
export function planSwarm(hostNames: readonly string[], config: SwarmConfig): SwarmPlan {
  const issues = swarmPlanIssues(hostNames, config);
  if (issues.length > 0) throw configError("swarm config", KEY, config, issues);
  const { inSwarm } = swarmMembers(hostNames, config);
  const warnings: string[] = [];
  if (config.managers % 2 === 0) {
    warnings.push(
      `${KEY}.managers = ${config.managers}: an even number of managers tolerates no more ` +
        `failures than ${config.managers - 1} and adds one more that can fail; use an odd number`,
    );
  }
  if (config.managers > 7) {
    warnings.push(
      `${KEY}.managers = ${config.managers}: Docker recommends at most 7 managers; ` +
        "more slow every change down (each one is replicated to all)",
    );
  }
  if (config.managers === 1 && inSwarm.length > 1) {
    warnings.push(
      `${KEY}.managers = 1 with ${inSwarm.length} nodes: while ${inSwarm[0]} is down nothing ` +
        "can change the swarm (tasks keep running); 3 managers survive the loss of one",
    );
  }
  const nodes = inSwarm.map((name, index): PlannedSwarmNode => {
    const settings = config.nodes[name];
    return {
      name,
      role: index < config.managers ? "manager" : "worker",
      init: index === 0,
      availability: settings?.availability ?? "active",
      labels: { ...config.labels, ...settings?.labels },
    };
  });
  return {
    initNode: nodes[0].name,
    nodes,
    outside: hostNames.filter((name) => !inSwarm.includes(name)),
    networks: config.networks,
    port: config.port,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// What a host reports, and what to do about it.

export type LocalNodeState = "inactive" | "pending" | "active" | "error" | "locked";

/** `docker info --format '{{json .Swarm}}'`, the parts dockfleet decides on. */
export interface LocalSwarmState {
  state: LocalNodeState;
  nodeId: string;
  nodeAddress: string;
  /** A manager (Swarm.ControlAvailable). */
  isManager: boolean;
  /** The swarm's ID; Docker reports it on managers only. */
  clusterId: string;
  error: string;
}

/** The docker CLI command that prints what parseLocalSwarmState reads. */
export const LOCAL_SWARM_STATE_COMMAND = "docker info --format '{{json .Swarm}}'";

export function parseLocalSwarmState(json: string): LocalSwarmState {
  const swarm = JSON.parse(json) as {
    LocalNodeState?: string;
    NodeID?: string;
    NodeAddr?: string;
    ControlAvailable?: boolean;
    Cluster?: { ID?: string } | null;
    Error?: string;
  };
  const state = swarm.LocalNodeState ?? "";
  if (!["inactive", "pending", "active", "error", "locked"].includes(state)) {
    throw new Error(`unexpected swarm state ${JSON.stringify(state)} in docker info`);
  }
  return {
    state: state as LocalNodeState,
    nodeId: swarm.NodeID ?? "",
    nodeAddress: swarm.NodeAddr ?? "",
    isManager: swarm.ControlAvailable === true,
    clusterId: swarm.Cluster?.ID ?? "",
    error: swarm.Error ?? "",
  };
}

/** What a manager that survived the first manager's loss says of the swarm. */
export interface SurvivingManager {
  host: string;
  /** Its swarm state; undefined when the host did not answer or has no Docker yet. */
  local?: LocalSwarmState;
  /** `docker node ls` worked there: the managers have a leader (quorum). */
  hasLeader: boolean;
}

/** Rejoin through one of the managers surveyed, or make a new swarm (with why). */
export type RecoveryAction<M extends SurvivingManager> =
  { kind: "rejoin"; through: M } | { kind: "init"; warning: string };

/**
 * Pure: the first manager's machine was made anew (a killed VM or container recreated by `up`)
 * and its Docker is in no swarm. While another planned manager still manages the swarm it made,
 * with quorum, it rejoins that swarm as a manager, so that services, secrets and networks stay.
 * When no manager of it is left, the swarm went with them: a new one is made, as on a first
 * `up`. A swarm that is there without quorum is refused: joining cannot work, and a new swarm
 * would throw away what it holds, while `--force-new-cluster` on a survivor keeps it.
 */
export function planInitHostRecovery<M extends SurvivingManager>(
  host: string,
  clusterId: string,
  managers: readonly M[],
): RecoveryAction<M> {
  const holding = managers.filter(
    (manager) => manager.local?.state === "active" && manager.local.clusterId === clusterId,
  );
  const withLeader = holding.find((manager) => manager.hasLeader);
  if (withLeader !== undefined) return { kind: "rejoin", through: withLeader };
  if (holding.length > 0) {
    const names = holding.map((manager) => manager.host).join(", ");
    throw new Error(
      `${host} was made anew and swarm ${clusterId} has no leader: ${names} still hold it, ` +
        "but too few managers are left for quorum. To keep the swarm's services and secrets, run " +
        `\`docker swarm init --force-new-cluster --advertise-addr <its private address>\` on ${holding[0].host}; ` +
        `to start an empty swarm instead, run \`docker swarm leave --force\` on ${names}. Then run \`pulumi up\` again`,
    );
  }
  return {
    kind: "init",
    warning:
      `${host} was made anew and no other manager holds swarm ${clusterId}: it is gone, a new ` +
      "swarm is made and every node joins it (services, secrets and networks of the old one are lost)",
  };
}

export type InitAction = { kind: "init" } | { kind: "initialized"; warning?: string };

/** On the first manager: init, or nothing when it already manages a swarm. */
export function planSwarmInit(
  host: string,
  local: LocalSwarmState,
  advertiseAddress: string,
): InitAction {
  if (local.state === "inactive") return { kind: "init" };
  if (local.state === "active" && local.isManager) {
    const warning =
      local.nodeAddress !== "" && local.nodeAddress !== advertiseAddress
        ? `already manages a swarm, advertised at ${local.nodeAddress}, not ${advertiseAddress}: ` +
          "kept as it is (leave the swarm on it to re-create it)"
        : undefined;
    return { kind: "initialized", warning };
  }
  throw new Error(
    `${host} cannot init the swarm: its swarm state is ${JSON.stringify(local.state)}` +
      `${local.state === "active" ? " as a worker of another swarm" : ""}` +
      `${local.error ? ` (${local.error})` : ""}. ` +
      (local.state === "locked"
        ? "Unlock it with `docker swarm unlock`, or "
        : "Run `docker swarm leave --force` on it, or ") +
      "choose another first host in dockfleet:swarm.hosts",
  );
}

export type JoinAction = "join" | "member" | "leave-and-join";

/**
 * On a joining host: join, nothing (already a node of this swarm), or leave a failed or stuck
 * attempt first. `knownToSwarm`: the swarm's managers list the host's node ID.
 */
export function planSwarmJoin(
  host: string,
  local: LocalSwarmState,
  knownToSwarm: boolean,
): JoinAction {
  switch (local.state) {
    case "inactive":
      return "join";
    case "pending":
    case "error":
      return "leave-and-join";
    case "active":
      if (knownToSwarm) return "member";
      throw new Error(
        `${host} is already a node (${local.nodeId}) of another swarm: run ` +
          "`docker swarm leave --force` on it to let it join this one, or leave it out of " +
          "dockfleet:swarm.hosts",
      );
    case "locked":
      throw new Error(
        `${host}'s swarm is locked (autolock): unlock it with \`docker swarm unlock\` first`,
      );
  }
}

/** `docker node inspect`, the parts dockfleet manages. */
export interface ObservedSwarmNode {
  id: string;
  hostname: string;
  role: SwarmRole;
  availability: SwarmAvailability;
  labels: Record<string, string>;
  /** Status.State: "ready", "down", "unknown", "disconnected". */
  state: string;
  /** ManagerStatus.Reachability for managers ("reachable", "unreachable"); "" for workers. */
  reachability: string;
}

/** Every node as "ID HOSTNAME ADDRESS ROLE", for planStaleNodes. */
export const NODE_ADDRESSES_COMMAND =
  "docker node inspect $(docker node ls --quiet) --format '{{.ID}} {{.Description.Hostname}} {{.Status.Addr}} {{.Spec.Role}}'";

/**
 * Pure: the nodes a host's earlier machines left in the list, from NODE_ADDRESSES_COMMAND's
 * output: those with the hostname and address of the node `joinedId` (no other machine can hold
 * its address). The delete of the old node removes it, except when the manager that delete went
 * through was made anew in the same `up` (its recorded host key no longer matches).
 */
export function planStaleNodes(
  listing: string,
  joinedId: string,
): Array<{ id: string; role: string }> {
  const nodes = listing
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .map(([id, hostname, address, role]) => ({ id, hostname, address, role }));
  const joined = nodes.find((node) => node.id === joinedId);
  if (joined === undefined) return [];
  return nodes
    .filter(
      (node) =>
        node.id !== joined.id &&
        node.hostname === joined.hostname &&
        node.address === joined.address,
    )
    .map((node) => ({ id: node.id, role: node.role }));
}

export function parseNodeInspect(json: string): ObservedSwarmNode {
  const parsed = JSON.parse(json) as unknown;
  const node = (Array.isArray(parsed) ? parsed[0] : parsed) as {
    ID: string;
    Description?: { Hostname?: string };
    Spec: { Role: SwarmRole; Availability: SwarmAvailability; Labels?: Record<string, string> };
    Status?: { State?: string };
    ManagerStatus?: { Reachability?: string };
  };
  return {
    id: node.ID,
    hostname: node.Description?.Hostname ?? "",
    role: node.Spec.Role,
    availability: node.Spec.Availability,
    labels: node.Spec.Labels ?? {},
    state: node.Status?.State ?? "unknown",
    reachability: node.ManagerStatus?.Reachability ?? "",
  };
}

export interface DesiredNodeSettings {
  role: SwarmRole;
  availability: SwarmAvailability;
  labels: Record<string, string>;
}

/**
 * The docker commands (argv after `docker`, run on a manager) that bring a node from what it is
 * to what is wanted; none when it is there already. Labels dockfleet no longer wants
 * (`previousLabels` keys not wanted now) are removed; labels set by others are left alone.
 */
export function planNodeUpdate(
  observed: ObservedSwarmNode,
  desired: DesiredNodeSettings,
  previousLabels: Record<string, string> = {},
): string[][] {
  const commands: string[][] = [];
  if (observed.role !== desired.role) {
    commands.push(["node", desired.role === "manager" ? "promote" : "demote", observed.id]);
  }
  const update: string[] = [];
  for (const [key, value] of Object.entries(desired.labels).sort()) {
    if (observed.labels[key] !== value) update.push("--label-add", `${key}=${value}`);
  }
  for (const key of Object.keys(previousLabels).sort()) {
    if (!(key in desired.labels) && key in observed.labels) update.push("--label-rm", key);
  }
  if (observed.availability !== desired.availability) {
    update.push("--availability", desired.availability);
  }
  if (update.length > 0) commands.push(["node", "update", ...update, observed.id]);
  return commands;
}

export type RemovalStep = "drain" | "demote" | "leave" | "remove";

/**
 * Taking a node out: drain it (its tasks move elsewhere), demote it if it manages, make it leave,
 * then remove it from the node list. `observed` undefined: the swarm no longer lists it, so only
 * the host itself may still need to leave.
 */
export function planNodeRemoval(observed: ObservedSwarmNode | undefined): RemovalStep[] {
  if (observed === undefined) return ["leave"];
  const steps: RemovalStep[] = [];
  if (observed.availability !== "drain") steps.push("drain");
  if (observed.role === "manager") steps.push("demote");
  steps.push("leave", "remove");
  return steps;
}

/** `docker swarm init` on the first manager, on its private address (never Docker's guess). */
export function renderSwarmInitCommand(advertiseAddress: string, port: number): string {
  const address = `${advertiseAddress}:${port}`;
  return `docker swarm init --advertise-addr ${shellQuote(address)} --listen-addr ${shellQuote(address)}`;
}

/**
 * Joins a swarm through the Engine API on the local socket, with the request body (which holds the
 * join token) on stdin: `docker swarm join` takes the token only as an argument, which every user
 * on the host sees in `ps`. Fails with the API's message when the daemon refuses.
 */
export const SWARM_JOIN_COMMAND = [
  "command -v curl >/dev/null || { echo 'curl is needed to join the swarm through the Engine API: install it' >&2; exit 1; }",
  "response=$(curl -sS --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' " +
    "--data-binary @- -w ' HTTP %{http_code}' http://localhost/swarm/join) || exit 1",
  'case "$response" in *" HTTP 200") exit 0 ;; esac',
  'echo "the Docker daemon refused to join the swarm: $response" >&2',
  "exit 1",
].join("\n");

/** The body of POST /swarm/join, for SWARM_JOIN_COMMAND's stdin: the host's private address:port. */
export function renderSwarmJoinRequest(
  advertiseAddress: string,
  port: number,
  joinAddress: string,
  token: string,
): string {
  const address = `${advertiseAddress}:${port}`;
  return JSON.stringify({
    ListenAddr: address,
    AdvertiseAddr: address,
    RemoteAddrs: [joinAddress],
    JoinToken: token,
  });
}

/** A docker argv as one shell command line. */
export function renderDockerCommand(args: readonly string[]): string {
  return ["docker", ...args.map((arg) => (/^[\w./:=@-]+$/.test(arg) ? arg : shellQuote(arg)))].join(
    " ",
  );
}

/** `docker network inspect`, the parts dockfleet creates an overlay network with. */
export interface ObservedNetwork {
  name: string;
  driver: string;
  scope: string;
  attachable: boolean;
  encrypted: boolean;
  subnets: string[];
}

export function parseNetworkInspect(json: string): ObservedNetwork {
  const parsed = JSON.parse(json) as unknown;
  const network = (Array.isArray(parsed) ? parsed[0] : parsed) as {
    Name: string;
    Driver: string;
    Scope: string;
    Attachable?: boolean;
    Options?: Record<string, string> | null;
    IPAM?: { Config?: { Subnet?: string }[] | null };
  };
  return {
    name: network.Name,
    driver: network.Driver,
    scope: network.Scope,
    attachable: network.Attachable === true,
    encrypted: network.Options != null && "encrypted" in network.Options,
    subnets: (network.IPAM?.Config ?? []).flatMap((entry) => (entry.Subnet ? [entry.Subnet] : [])),
  };
}

/** Create the network, or keep the one there; a same-named network of another kind is an error. */
export function planNetwork(
  desired: SwarmNetworkConfig,
  observed: ObservedNetwork | undefined,
): "create" | "exists" {
  if (observed === undefined) return "create";
  const differences: string[] = [];
  if (observed.driver !== "overlay" || observed.scope !== "swarm") {
    differences.push(`driver ${observed.driver}/${observed.scope}, not overlay/swarm`);
  }
  if (observed.attachable !== desired.attachable) {
    differences.push(`attachable ${observed.attachable}, not ${desired.attachable}`);
  }
  if (observed.encrypted !== desired.encrypted) {
    differences.push(`encrypted ${observed.encrypted}, not ${desired.encrypted}`);
  }
  if (desired.subnet !== undefined && !observed.subnets.includes(desired.subnet)) {
    differences.push(`subnet ${observed.subnets.join(",") || "(none)"}, not ${desired.subnet}`);
  }
  if (differences.length > 0) {
    throw new Error(
      `a network named ${JSON.stringify(desired.name)} already exists with ${differences.join("; ")}: ` +
        "remove it (`docker network rm`) or give dockfleet:swarm.networks another name",
    );
  }
  return "exists";
}

/** `docker network create` args for an overlay network. */
export function renderNetworkCreateArgs(
  network: SwarmNetworkConfig,
  labels: Record<string, string>,
): string[] {
  return [
    "network",
    "create",
    "--driver",
    "overlay",
    ...(network.attachable ? ["--attachable"] : []),
    ...(network.encrypted ? ["--opt", "encrypted"] : []),
    ...(network.subnet !== undefined ? ["--subnet", network.subnet] : []),
    ...Object.entries(labels)
      .sort()
      .flatMap(([key, value]) => ["--label", `${key}=${value}`]),
    network.name,
  ];
}
