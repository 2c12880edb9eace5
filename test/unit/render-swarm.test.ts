import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SwarmConfigSchema, type SwarmConfigInput } from "../../components/swarm/config";
import { ConfigError } from "../../provision/config/errors";
import {
  parseLocalSwarmState,
  parseNetworkInspect,
  parseNodeInspect,
  planNetwork,
  planNodeRemoval,
  planNodeUpdate,
  planSwarm,
  planInitHostRecovery,
  planStaleNodes,
  planSwarmInit,
  planSwarmJoin,
  renderDockerCommand,
  renderNetworkCreateArgs,
  renderSwarmInitCommand,
  renderSwarmJoinRequest,
  SWARM_JOIN_COMMAND,
  type LocalSwarmState,
  type ObservedSwarmNode,
} from "../../components/swarm/plan";

const HOSTS = ["host-1", "host-2", "host-3", "host-4", "host-5"];

function plan(input: SwarmConfigInput, hosts: string[] = HOSTS) {
  return planSwarm(hosts, SwarmConfigSchema.parse(input));
}

function roles(input: SwarmConfigInput, hosts?: string[]): string[] {
  return plan(input, hosts).nodes.map((node) => `${node.name}:${node.role}${node.init ? "*" : ""}`);
}

describe("SwarmConfigSchema", () => {
  it("has a default for everything", () => {
    assert.deepEqual(SwarmConfigSchema.parse({}), {
      enabled: false,
      managers: 1,
      port: 2377,
      labels: {},
      nodes: {},
      networks: [],
    });
    assert.deepEqual(SwarmConfigSchema.parse({ networks: [{ name: "apps" }] }).networks, [
      { name: "apps", attachable: true, encrypted: false },
    ]);
  });

  it("refuses 0 managers, unknown keys, bad availability and duplicate networks", () => {
    const problems = (input: unknown) =>
      SwarmConfigSchema.safeParse(input).error?.issues.map(
        (issue) => `${issue.path.join(".")}: ${issue.code}`,
      );
    assert.deepEqual(problems({ managers: 0 }), ["managers: too_small"]);
    assert.deepEqual(problems({ manager: 1 }), [": unrecognized_keys"]);
    assert.deepEqual(problems({ nodes: { "host-1": { availability: "off" } } }), [
      "nodes.host-1.availability: invalid_value",
    ]);
    assert.deepEqual(problems({ networks: [{ name: "a" }, { name: "a" }] }), ["networks: custom"]);
    assert.deepEqual(problems({ hosts: ["host-1", "host-1"] }), ["hosts: custom"]);
    assert.deepEqual(problems({ labels: { "bad key": "x" } }), ["labels.bad key: invalid_key"]);
  });
});

describe("planSwarm", () => {
  it("by default: the first host inits and manages, every other one is a worker", () => {
    assert.deepEqual(roles({}, ["host-1", "host-2", "host-3"]), [
      "host-1:manager*",
      "host-2:worker",
      "host-3:worker",
    ]);
    const single = plan({}, ["solo"]);
    assert.equal(single.initNode, "solo");
    assert.deepEqual(single.warnings, []);
  });

  it("takes managers first, then workers, and leaves the rest out", () => {
    assert.deepEqual(roles({ managers: 3, workers: 1 }), [
      "host-1:manager*",
      "host-2:manager",
      "host-3:manager",
      "host-4:worker",
    ]);
    assert.deepEqual(plan({ managers: 3, workers: 1 }).outside, ["host-5"]);
    assert.deepEqual(roles({ hosts: ["host-4", "host-2"] }), ["host-4:manager*", "host-2:worker"]);
    assert.deepEqual(plan({ hosts: ["host-4", "host-2"] }).outside, ["host-1", "host-3", "host-5"]);
  });

  it("adding a worker adds one node and leaves every other node as it was", () => {
    const before = plan({ managers: 3, workers: 1, nodes: { "host-4": { labels: { a: "b" } } } });
    const after = plan({ managers: 3, workers: 2, nodes: { "host-4": { labels: { a: "b" } } } });
    assert.deepEqual(after.nodes.slice(0, 4), before.nodes);
    assert.deepEqual(after.nodes[4], {
      name: "host-5",
      role: "worker",
      init: false,
      availability: "active",
      labels: {},
    });
  });

  it("warns about an even number of managers, and about more than 7", () => {
    assert.match(plan({ managers: 2 }).warnings.join("\n"), /managers = 2: an even number/);
    assert.deepEqual(plan({ managers: 3 }).warnings, []);
    const many = Array.from({ length: 9 }, (_, index) => `h${index + 1}`);
    assert.match(plan({ managers: 9 }, many).warnings.join("\n"), /at most 7 managers/);
  });

  it("warns about a single manager of several nodes, not of a swarm of one", () => {
    assert.deepEqual(plan({}, ["host-1", "host-2", "host-3"]).warnings, [
      "dockfleet:swarm.managers = 1 with 3 nodes: while host-1 is down nothing can change the " +
        "swarm (tasks keep running); 3 managers survive the loss of one",
    ]);
    assert.deepEqual(plan({ workers: 0 }, ["host-1", "host-2"]).warnings, []);
  });

  it("merges swarm-wide and per-node labels, and sets availability", () => {
    const nodes = plan({
      labels: { zone: "a", tier: "any" },
      nodes: { "host-2": { labels: { tier: "db" }, availability: "drain" } },
    }).nodes;
    assert.deepEqual(nodes[0].labels, { zone: "a", tier: "any" });
    assert.deepEqual(nodes[1].labels, { zone: "a", tier: "db" });
    assert.equal(nodes[1].availability, "drain");
    assert.equal(nodes[0].availability, "active");
  });

  it("refuses plans that cannot work, naming key, value and fix", () => {
    const refused = (config: SwarmConfigInput, problem: string) =>
      assert.throws(
        () => plan(config),
        (error: unknown) => error instanceof ConfigError && error.problems[0] === problem,
      );
    refused(
      { managers: 6 },
      "dockfleet:swarm.managers = 6: must be at most the number of swarm hosts " +
        "(5: host-1, host-2, host-3, host-4, host-5): lower managers or add hosts",
    );
    refused(
      { managers: 3, workers: 3 },
      "dockfleet:swarm.workers = 3: must be at most the swarm hosts left after 3 manager(s) " +
        "(2 of 5: host-1, host-2, host-3, host-4, host-5): lower workers or add hosts",
    );
    refused(
      { hosts: ["host-9"] },
      'dockfleet:swarm.hosts[0] = "host-9": must be a host of this environment ' +
        "(host-1, host-2, host-3, host-4, host-5)",
    );
    refused(
      { managers: 1, workers: 1, nodes: { "host-3": { availability: "drain" } } },
      'dockfleet:swarm.nodes.host-3 = {"labels":{},"availability":"drain"}: is not a node of ' +
        "the swarm (host-1, host-2): remove its settings or add the host",
    );
  });
});

function local(overrides: Partial<LocalSwarmState>): LocalSwarmState {
  return {
    state: "inactive",
    nodeId: "",
    nodeAddress: "",
    isManager: false,
    clusterId: "",
    error: "",
    ...overrides,
  };
}

describe("what a host reports, and what to do", () => {
  it("parses docker info's Swarm section", () => {
    const inactive = parseLocalSwarmState(
      '{"NodeID":"","NodeAddr":"","LocalNodeState":"inactive","ControlAvailable":false,"Error":"","RemoteManagers":null}',
    );
    assert.deepEqual(inactive, local({}));
    const manager = parseLocalSwarmState(
      JSON.stringify({
        NodeID: "n1",
        NodeAddr: "10.0.0.1",
        LocalNodeState: "active",
        ControlAvailable: true,
        Cluster: { ID: "c1" },
      }),
    );
    assert.deepEqual(
      manager,
      local({
        state: "active",
        nodeId: "n1",
        nodeAddress: "10.0.0.1",
        isManager: true,
        clusterId: "c1",
      }),
    );
    assert.throws(() => parseLocalSwarmState('{"LocalNodeState":"odd"}'), /unexpected swarm state/);
  });

  it("inits only a host outside any swarm", () => {
    assert.deepEqual(planSwarmInit("h", local({}), "10.0.0.1"), { kind: "init" });
    const formed = local({ state: "active", isManager: true, nodeAddress: "10.0.0.1" });
    assert.deepEqual(planSwarmInit("h", formed, "10.0.0.1"), {
      kind: "initialized",
      warning: undefined,
    });
    const elsewhere = planSwarmInit("h", { ...formed, nodeAddress: "192.168.0.9" }, "10.0.0.1");
    assert.match(elsewhere.kind === "initialized" ? (elsewhere.warning ?? "") : "", /192\.168/);
    assert.throws(
      () => planSwarmInit("h", local({ state: "active" }), "10.0.0.1"),
      /h cannot init the swarm: .*as a worker of another swarm.*docker swarm leave --force/,
    );
    assert.throws(() => planSwarmInit("h", local({ state: "locked" }), "x"), /docker swarm unlock/);
  });

  it("a first manager made anew rejoins the swarm a manager with quorum holds, else makes one", () => {
    const holding = local({ state: "active", isManager: true, clusterId: "c1" });
    assert.deepEqual(
      planInitHostRecovery("host-1", "c1", [
        { host: "host-2", hasLeader: false },
        { host: "host-3", local: holding, hasLeader: true },
      ]),
      { kind: "rejoin", through: { host: "host-3", local: holding, hasLeader: true } },
    );
    assert.throws(
      () =>
        planInitHostRecovery("host-1", "c1", [
          { host: "host-2", local: holding, hasLeader: false },
          { host: "host-3", hasLeader: false },
        ]),
      /swarm c1 has no leader: host-2 still hold.*--force-new-cluster.*on host-2.*docker swarm leave --force/,
    );
    // Unreachable, outside any swarm, or in another swarm: nobody holds this one.
    const gone = planInitHostRecovery("host-1", "c1", [
      { host: "host-2", hasLeader: false },
      { host: "host-3", local: local({}), hasLeader: false },
      { host: "host-4", local: { ...holding, clusterId: "c2" }, hasLeader: true },
    ]);
    assert.equal(gone.kind, "init");
    assert.match(gone.kind === "init" ? gone.warning : "", /no other manager holds swarm c1/);
    assert.equal(planInitHostRecovery("host-1", "c1", []).kind, "init");
  });

  it("finds the nodes a host's earlier machines left: same hostname and address, not itself", () => {
    const listing = [
      "new4 host-4 10.0.0.4 worker",
      "old4 host-4 10.0.0.4 worker",
      "oldm host-4 10.0.0.4 manager",
      "twin host-4 10.0.0.9 worker", // another machine that happens to have the same hostname
      "n2 host-2 10.0.0.2 manager",
    ].join("\n");
    assert.deepEqual(planStaleNodes(listing, "new4"), [
      { id: "old4", role: "worker" },
      { id: "oldm", role: "manager" },
    ]);
    assert.deepEqual(planStaleNodes(listing, "n2"), []);
    assert.deepEqual(planStaleNodes(listing, "not-listed"), []);
  });

  it("joins a host outside, skips a member, repairs a failed attempt, refuses another swarm", () => {
    assert.equal(planSwarmJoin("h", local({}), false), "join");
    assert.equal(planSwarmJoin("h", local({ state: "active", nodeId: "n" }), true), "member");
    assert.equal(planSwarmJoin("h", local({ state: "error" }), false), "leave-and-join");
    assert.equal(planSwarmJoin("h", local({ state: "pending" }), false), "leave-and-join");
    assert.throws(
      () => planSwarmJoin("h", local({ state: "active", nodeId: "n" }), false),
      /h is already a node \(n\) of another swarm/,
    );
  });
});

const NODE_INSPECT = JSON.stringify([
  {
    ID: "abc",
    Description: { Hostname: "host-2" },
    Spec: { Role: "worker", Availability: "active", Labels: { zone: "a", other: "x" } },
    Status: { State: "ready" },
  },
]);

describe("node settings and removal", () => {
  const observed: ObservedSwarmNode = parseNodeInspect(NODE_INSPECT);

  it("parses docker node inspect", () => {
    assert.deepEqual(observed, {
      id: "abc",
      hostname: "host-2",
      role: "worker",
      availability: "active",
      labels: { zone: "a", other: "x" },
      state: "ready",
      reachability: "",
    });
  });

  it("changes nothing on a node that is as wanted", () => {
    assert.deepEqual(
      planNodeUpdate(observed, { role: "worker", availability: "active", labels: { zone: "a" } }),
      [],
    );
  });

  it("promotes, relabels and drains in as few commands as possible", () => {
    assert.deepEqual(
      planNodeUpdate(
        observed,
        { role: "manager", availability: "drain", labels: { zone: "b", disk: "ssd" } },
        { zone: "a", gone: "1", other: "x" },
      ),
      [
        ["node", "promote", "abc"],
        [
          "node",
          "update",
          "--label-add",
          "disk=ssd",
          "--label-add",
          "zone=b",
          "--label-rm",
          "other",
          "--availability",
          "drain",
          "abc",
        ],
      ],
    );
  });

  it("leaves labels set by others alone", () => {
    assert.deepEqual(
      planNodeUpdate(observed, { role: "worker", availability: "active", labels: {} }, {}),
      [],
    );
  });

  it("drains, demotes a manager, leaves, removes", () => {
    assert.deepEqual(planNodeRemoval(observed), ["drain", "leave", "remove"]);
    assert.deepEqual(planNodeRemoval({ ...observed, role: "manager", availability: "drain" }), [
      "demote",
      "leave",
      "remove",
    ]);
    assert.deepEqual(planNodeRemoval(undefined), ["leave"]);
  });
});

describe("commands", () => {
  it("inits and joins on the given private address, the token only on stdin", () => {
    assert.equal(
      renderSwarmInitCommand("10.0.0.1", 2377),
      "docker swarm init --advertise-addr '10.0.0.1:2377' --listen-addr '10.0.0.1:2377'",
    );
    assert.deepEqual(
      JSON.parse(renderSwarmJoinRequest("10.0.0.2", 2377, "10.0.0.1:2377", "SWMTKN-1-x")),
      {
        ListenAddr: "10.0.0.2:2377",
        AdvertiseAddr: "10.0.0.2:2377",
        RemoteAddrs: ["10.0.0.1:2377"],
        JoinToken: "SWMTKN-1-x",
      },
    );
    assert.match(SWARM_JOIN_COMMAND, /--data-binary @- /);
    assert.doesNotMatch(SWARM_JOIN_COMMAND, /SWMTKN|\$\{?[A-Z_]*TOKEN/);
  });

  it("quotes docker arguments only where needed", () => {
    assert.equal(
      renderDockerCommand(["node", "ps", "abc", "--format", "{{.CurrentState}}"]),
      "docker node ps abc --format '{{.CurrentState}}'",
    );
  });

  it("creates attachable, optionally encrypted overlay networks", () => {
    assert.deepEqual(
      renderNetworkCreateArgs(
        { name: "apps", attachable: true, encrypted: true, subnet: "10.20.0.0/24" },
        { "dockfleet.io/stack": "s" },
      ),
      [
        "network",
        "create",
        "--driver",
        "overlay",
        "--attachable",
        "--opt",
        "encrypted",
        "--subnet",
        "10.20.0.0/24",
        "--label",
        "dockfleet.io/stack=s",
        "apps",
      ],
    );
    assert.deepEqual(
      renderNetworkCreateArgs({ name: "n", attachable: false, encrypted: false }, {}),
      ["network", "create", "--driver", "overlay", "n"],
    );
  });

  it("keeps a network that exists as wanted and refuses one that differs", () => {
    const inspect = parseNetworkInspect(
      JSON.stringify([
        {
          Name: "apps",
          Driver: "overlay",
          Scope: "swarm",
          Attachable: true,
          Options: { "com.docker.network.driver.overlay.vxlanid_list": "4097" },
          IPAM: { Config: [{ Subnet: "10.0.1.0/24" }] },
        },
      ]),
    );
    const wanted = { name: "apps", attachable: true, encrypted: false };
    assert.equal(planNetwork(wanted, undefined), "create");
    assert.equal(planNetwork(wanted, inspect), "exists");
    assert.equal(planNetwork({ ...wanted, subnet: "10.0.1.0/24" }, inspect), "exists");
    assert.throws(
      () => planNetwork({ ...wanted, encrypted: true }, inspect),
      /network named "apps" already exists with encrypted false, not true: remove it/,
    );
    assert.throws(
      () => planNetwork(wanted, { ...inspect, driver: "bridge", scope: "local" }),
      /driver bridge\/local, not overlay\/swarm/,
    );
  });
});
