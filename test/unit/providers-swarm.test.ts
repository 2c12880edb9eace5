/**
 * The swarm providers (init, node membership, overlay networks) against fake hosts: a small model
 * of a swarm answers the docker commands the providers send over SSH, and the tests check what
 * was sent, on which host and in which order.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { swarmInitProvider } from "../../components/swarm/resources/swarm-init";
import { swarmNodeProvider } from "../../components/swarm/resources/swarm-node";
import { swarmNetworkProvider } from "../../components/swarm/resources/swarm-network";
import { swarmStackProvider } from "../../components/apps/resources/swarm-stack";
import { SWARM_JOIN_COMMAND } from "../../components/swarm/plan";
import {
  FakeCommander,
  commandLinesWith,
  fakeHostsPerTest,
  outputsOf,
  type FakeReply,
  type RecordedCommand,
} from "../helpers/fake-ssh";

type InitInputs = Parameters<typeof swarmInitProvider.create>[0];
type InitOutputs = Parameters<NonNullable<typeof swarmInitProvider.delete>>[1];
type NodeInputs = Parameters<typeof swarmNodeProvider.create>[0];
type NodeOutputs = Parameters<NonNullable<typeof swarmNodeProvider.delete>>[1];
type NetworkInputs = Parameters<typeof swarmNetworkProvider.create>[0];

const CLUSTER_ID = "qv6kz3bzt0kqg1yb3y0c9ba4e";
const WORKER_TOKEN = "SWMTKN-1-4hc0yfhvbtfbjsh2w3p0example-worker-secret";
const MANAGER_TOKEN = "SWMTKN-1-4hc0yfhvbtfbjsh2w3p0example-manager-secret";
const address = (n: number) => `10.0.0.${n}`;
/** The Engine API join request a host was sent on stdin. */
const joinRequestOf = (call: RecordedCommand) =>
  JSON.parse(call.stdin ?? "{}") as { JoinToken?: string; [key: string]: unknown };
const connection = (n: number) => ({
  host: address(n),
  port: 22,
  user: "root",
  privateKey: "fake ssh key",
});

// ---- A model of a swarm, answering the docker CLI as each host would ------------------------

interface ModelNode {
  id: string;
  host: number;
  role: "manager" | "worker";
  availability: "active" | "pause" | "drain";
  labels: Record<string, string>;
  state: "ready" | "down";
  runningTasks: number;
}

interface LocalState {
  state: "inactive" | "pending" | "active" | "error";
  nodeId: string;
  error: string;
}

const notFound = (what: string): FakeReply => ({
  code: 1,
  stderr: `Error response from daemon: ${what} not found\n`,
});

class SwarmModel {
  readonly nodes = new Map<string, ModelNode>();
  readonly local = new Map<number, LocalState>();
  /** Every command any host was sent, in order, as "host-N: command". */
  readonly log: string[] = [];
  clusterId = CLUSTER_ID;

  constructor() {
    this.addNode(1, "manager");
  }

  addNode(host: number, role: ModelNode["role"], extra: Partial<ModelNode> = {}): ModelNode {
    const node: ModelNode = {
      id: `node${host}id000000000000000`,
      host,
      role,
      availability: "active",
      labels: {},
      state: "ready",
      runningTasks: 0,
      ...extra,
    };
    this.nodes.set(node.id, node);
    this.local.set(host, { state: "active", nodeId: node.id, error: "" });
    return node;
  }

  nodeOf(host: number): ModelNode | undefined {
    return [...this.nodes.values()].find((node) => node.host === host);
  }

  /** `docker info --format '{{json .Swarm}}'` on a host. */
  info(host: number): FakeReply {
    const local = this.local.get(host) ?? { state: "inactive", nodeId: "", error: "" };
    const node = this.nodes.get(local.nodeId);
    const manager = local.state === "active" && node?.role === "manager";
    return {
      stdout:
        JSON.stringify({
          LocalNodeState: local.state,
          NodeID: local.nodeId,
          NodeAddr: local.state === "active" ? address(host) : "",
          ControlAvailable: manager,
          Error: local.error,
          Cluster: manager ? { ID: this.clusterId } : null,
        }) + "\n",
    };
  }

  /** Whether the host manages this swarm (node commands work there only). */
  managing(host: number): boolean {
    const local = this.local.get(host);
    return local?.state === "active" && this.nodes.get(local.nodeId)?.role === "manager";
  }

  inspect(id: string): FakeReply {
    const node = this.nodes.get(id);
    if (node === undefined) return notFound(`node ${id}`);
    return {
      stdout: JSON.stringify([
        {
          ID: node.id,
          Description: { Hostname: `host-${node.host}` },
          Spec: { Role: node.role, Availability: node.availability, Labels: node.labels },
          Status: { State: node.state },
          ...(node.role === "manager" ? { ManagerStatus: { Reachability: "reachable" } } : {}),
        },
      ]),
    };
  }
}

/** The words of a docker command line as renderDockerCommand wrote it. */
function words(command: string): string[] {
  return [...command.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/** Host n of the model: answers what a Docker host answers, and logs every command. */
function swarmHost(model: SwarmModel, n: number): FakeCommander {
  const fake = new FakeCommander(`${address(n)}:22`);
  const answer = (handle: (call: RecordedCommand) => FakeReply) => (call: RecordedCommand) => {
    model.log.push(`host-${n}: ${call.command}`);
    return handle(call);
  };
  const managerOnly = (handle: (argv: string[]) => FakeReply) =>
    answer((call) =>
      model.managing(n)
        ? handle(words(call.command))
        : { code: 1, stderr: "Error response from daemon: This node is not a swarm manager.\n" },
    );
  return fake
    .on(
      /^docker info --format '\{\{json \.Swarm\}\}'$/,
      answer(() => model.info(n)),
    )
    .on(
      /\/swarm\/join/,
      answer((call) => {
        const token = joinRequestOf(call).JoinToken;
        const role = token === MANAGER_TOKEN ? "manager" : token === WORKER_TOKEN ? "worker" : "";
        if (role === "")
          return { code: 1, stderr: "Error response from daemon: invalid join token\n" };
        model.addNode(n, role);
        return { stdout: `This node joined a swarm as a ${role}.\n` };
      }),
    )
    .on(
      /^docker swarm leave( --force)?$/,
      answer((call) => {
        const local = model.local.get(n);
        const node = model.nodes.get(local?.nodeId ?? "");
        if (node?.role === "manager" && !call.command.endsWith("--force")) {
          return { code: 1, stderr: "Error response from daemon: You are attempting to leave..." };
        }
        if (node !== undefined) node.state = "down";
        model.local.set(n, { state: "inactive", nodeId: "", error: "" });
        return { stdout: "Node left the swarm.\n" };
      }),
    )
    .on(
      /^docker node inspect \S+$/,
      managerOnly((argv) => model.inspect(argv[3])),
    )
    .on(
      /^docker node inspect \$\(docker node ls --quiet\) --format /,
      managerOnly(() => ({
        stdout:
          [...model.nodes.values()]
            .map((node) => `${node.id} host-${node.host} ${address(node.host)} ${node.role}`)
            .join("\n") + "\n",
      })),
    )
    .on(
      /^docker node ls --quiet$/,
      managerOnly(() => ({ stdout: [...model.nodes.keys()].join("\n") + "\n" })),
    )
    .on(
      /^docker node (promote|demote) \S+$/,
      managerOnly(([, , verb, id]) => {
        const node = model.nodes.get(id);
        if (node === undefined) return notFound(`node ${id}`);
        node.role = verb === "promote" ? "manager" : "worker";
        return { stdout: `Node ${id} ${verb}d.\n` };
      }),
    )
    .on(
      /^docker node update /,
      managerOnly((argv) => {
        const node = model.nodes.get(argv[argv.length - 1]);
        if (node === undefined) return notFound(`node ${argv[argv.length - 1]}`);
        for (let i = 3; i < argv.length - 1; i += 2) {
          const [flag, value] = [argv[i], argv[i + 1]];
          if (flag === "--label-add") node.labels[value.split("=")[0]] = value.split("=")[1];
          else if (flag === "--label-rm") delete node.labels[value];
          else if (flag === "--availability") {
            node.availability = value as ModelNode["availability"];
            if (value === "drain") node.runningTasks = 0;
          } else return { code: 1, stderr: `unknown flag: ${flag}\n` };
        }
        return { stdout: `${node.id}\n` };
      }),
    )
    .on(
      /^docker node ps \S+ --format '\{\{\.CurrentState\}\}'$/,
      managerOnly((argv) => {
        const node = model.nodes.get(argv[3]);
        const running = Array.from(
          { length: node?.runningTasks ?? 0 },
          () => "Running 2 hours ago",
        );
        return { stdout: [...running, "Shutdown 1 second ago"].join("\n") + "\n" };
      }),
    )
    .on(
      /^docker node rm --force \S+$/,
      managerOnly((argv) => {
        if (!model.nodes.delete(argv[4])) return notFound(`node ${argv[4]}`);
        return { stdout: `${argv[4]}\n` };
      }),
    );
}

function nodeInputs(n: number, overrides: Partial<NodeInputs> = {}): NodeInputs {
  return {
    host: `host-${n}`,
    connection: connection(n),
    logUrn: "",
    advertiseAddress: address(n),
    port: 2377,
    role: "worker",
    availability: "active",
    labels: {},
    init: false,
    clusterId: CLUSTER_ID,
    joinAddress: `${address(1)}:2377`,
    workerToken: WORKER_TOKEN,
    managerToken: MANAGER_TOKEN,
    manager: { host: "host-1", connection: connection(1) },
    ...overrides,
  };
}

function nodeOutputs(n: number, model: SwarmModel, overrides: Partial<NodeInputs> = {}) {
  const node = model.nodeOf(n);
  assert.ok(node, `host-${n} is a node of the model`);
  return { ...nodeInputs(n, overrides), nodeId: node.id } satisfies NodeOutputs;
}

const install = fakeHostsPerTest();

// ---- SwarmNode ---------------------------------------------------------------------------------

describe("swarmNodeProvider.create", () => {
  it("joins a worker with the worker token from an env variable, then labels it through the manager", async () => {
    const model = new SwarmModel();
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    const { id, outs } = await outputsOf(
      swarmNodeProvider.create(nodeInputs(3, { labels: { zone: "b" } })),
    );

    const node = model.nodeOf(3);
    assert.equal(node?.role, "worker");
    assert.deepEqual(node?.labels, { zone: "b" });
    assert.equal(outs.nodeId, node?.id);
    assert.equal(id, `host-3-swarm-node-${node?.id}`);
    const [join, ...moreJoins] = host3.ran(/\/swarm\/join/);
    assert.equal(moreJoins.length, 0);
    assert.equal(join.command, SWARM_JOIN_COMMAND);
    assert.deepEqual(joinRequestOf(join), {
      ListenAddr: "10.0.0.3:2377",
      AdvertiseAddr: "10.0.0.3:2377",
      RemoteAddrs: ["10.0.0.1:2377"],
      JoinToken: WORKER_TOKEN,
    });
    assert.deepEqual(join.env, {});
    assert.deepEqual(commandLinesWith("SWMTKN", host1, host3), []);
    // Node settings go through the first manager, never to the joining host.
    assert.deepEqual(
      host1.ran(/^docker node update /).map((call) => call.command),
      [`docker node update --label-add zone=b ${node?.id}`],
    );
    assert.deepEqual(host3.ran(/^docker node /), []);
    assert.deepEqual(host1.ran(/^docker swarm /), []);
  });

  it("removes the node an earlier machine of the host left (its delete could not reach the manager)", async () => {
    const model = new SwarmModel();
    model.nodes.set("oldnode3", {
      id: "oldnode3",
      host: 3,
      role: "worker",
      availability: "active",
      labels: {},
      state: "down",
      runningTasks: 0,
    });
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    await swarmNodeProvider.create(nodeInputs(3));

    assert.deepEqual(
      host1.ran(/^docker node rm /).map((call) => call.command),
      ["docker node rm --force oldnode3"],
    );
    assert.deepEqual(
      [...model.nodes.values()].filter((node) => node.host === 3).map((node) => node.state),
      ["ready"],
    );
  });

  it("joins a manager with the manager token and waits until the raft reaches it", async () => {
    const model = new SwarmModel();
    const [host1, host2] = [swarmHost(model, 1), swarmHost(model, 2)];
    install(host1, host2);

    await swarmNodeProvider.create(nodeInputs(2, { role: "manager" }));

    assert.equal(model.nodeOf(2)?.role, "manager");
    assert.equal(joinRequestOf(host2.ran(/\/swarm\/join/)[0]).JoinToken, MANAGER_TOKEN);
    // Joined as a manager: no promotion needed.
    assert.deepEqual(host1.ran(/^docker node (promote|demote)/), []);
    assert.ok(host1.ran(/^docker node inspect /).length >= 2, "ready, then reachable");
  });

  it("leaves a failed join attempt before joining again", async () => {
    const model = new SwarmModel();
    model.local.set(3, { state: "error", nodeId: "", error: "rpc error: timeout" });
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    await swarmNodeProvider.create(nodeInputs(3));

    const leave = host3.indexOf(/^docker swarm leave --force$/);
    assert.ok(leave >= 0 && leave < host3.indexOf(/\/swarm\/join/));
    assert.equal(model.nodeOf(3)?.state, "ready");
  });

  it("does not join again a host the manager already lists", async () => {
    const model = new SwarmModel();
    model.addNode(3, "worker");
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    await swarmNodeProvider.create(nodeInputs(3));

    assert.deepEqual(host3.ran(/^docker swarm /), []);
  });

  it("refuses a host that is a node of another swarm", async () => {
    const model = new SwarmModel();
    model.local.set(3, { state: "active", nodeId: "elsewhere000000000000000", error: "" });
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    await assert.rejects(
      swarmNodeProvider.create(nodeInputs(3)),
      /host-3 is already a node \(elsewhere0+\) of another swarm/,
    );
    assert.deepEqual(host3.ran(/^docker swarm /), []);
  });

  it("the first manager joins nothing: it checks it manages the swarm", async () => {
    const model = new SwarmModel();
    const host1 = swarmHost(model, 1);
    install(host1);

    const { outs } = await outputsOf(
      swarmNodeProvider.create(
        nodeInputs(1, { init: true, role: "manager", labels: { zone: "a" } }),
      ),
    );

    assert.equal(outs.nodeId, model.nodeOf(1)?.id);
    assert.deepEqual(host1.ran(/^docker swarm /), []);
    assert.deepEqual(model.nodeOf(1)?.labels, { zone: "a" });
  });

  it("joins one node of a swarm at a time (the membership lock)", async () => {
    const model = new SwarmModel();
    const hosts = [1, 3, 4, 5].map((n) => swarmHost(model, n));
    let joining = 0;
    let mostAtOnce = 0;
    for (const host of hosts.slice(1)) {
      host.on(/\/swarm\/join/, async (call) => {
        joining++;
        mostAtOnce = Math.max(mostAtOnce, joining);
        await sleep(30);
        joining--;
        const n = Number(String(joinRequestOf(call).AdvertiseAddr).match(/^10\.0\.0\.(\d+):/)?.[1]);
        model.addNode(n, "worker");
        return { stdout: "This node joined a swarm as a worker.\n" };
      });
    }
    install(...hosts);

    await Promise.all([3, 4, 5].map((n) => swarmNodeProvider.create(nodeInputs(n))));
    assert.equal(mostAtOnce, 1);
    assert.equal(model.nodes.size, 4);

    // Control: nodes of different swarms are not held back by each other.
    for (const n of [3, 4, 5]) model.local.set(n, { state: "inactive", nodeId: "", error: "" });
    for (const n of [3, 4, 5]) model.nodes.delete(model.nodeOf(n)!.id);
    await Promise.all(
      [3, 4, 5].map((n) => swarmNodeProvider.create(nodeInputs(n, { clusterId: `swarm-${n}` }))),
    );
    assert.equal(mostAtOnce, 3);
  });
});

describe("swarmNodeProvider.update", () => {
  it("promotes a worker turned manager through the manager, and waits until it is reachable", async () => {
    const model = new SwarmModel();
    const node = model.addNode(3, "worker");
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    const { outs } = await outputsOf(
      swarmNodeProvider.update!("id", nodeOutputs(3, model), nodeInputs(3, { role: "manager" })),
    );

    assert.equal(outs.nodeId, node.id);
    assert.equal(node.role, "manager");
    assert.deepEqual(
      host1.ran(/^docker node promote /).map((call) => call.command),
      [`docker node promote ${node.id}`],
    );
    const promoted = model.log.indexOf(`host-1: docker node promote ${node.id}`);
    assert.ok(model.log.slice(promoted + 1).includes(`host-1: docker node inspect ${node.id}`));
    assert.deepEqual(host3.ran(/^docker swarm /), [], "a member is not joined again");
  });

  it("demotes a manager turned worker; removes only the labels it set before", async () => {
    const model = new SwarmModel();
    const node = model.addNode(3, "manager", { labels: { zone: "a", theirs: "x" } });
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    await swarmNodeProvider.update!(
      "id",
      nodeOutputs(3, model, { role: "manager", labels: { zone: "a" } }),
      nodeInputs(3, { role: "worker", labels: {}, availability: "pause" }),
    );

    assert.deepEqual(
      host1.ran(/^docker node (demote|update) /).map((call) => call.command),
      [
        `docker node demote ${node.id}`,
        `docker node update --label-rm zone --availability pause ${node.id}`,
      ],
    );
    assert.equal(node.role, "worker");
    assert.deepEqual(node.labels, { theirs: "x" });
  });

  it("joins again a node that left behind Pulumi's back", async () => {
    const model = new SwarmModel();
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);
    const olds = { ...nodeInputs(3), nodeId: "gone00000000000000000000" };

    const { outs } = await outputsOf(swarmNodeProvider.update!("id", olds, nodeInputs(3)));

    assert.equal(host3.ran(/\/swarm\/join/).length, 1);
    assert.equal(outs.nodeId, model.nodeOf(3)?.id);
  });
});

describe("swarmNodeProvider.diff", () => {
  it("a new address or swarm replaces the node; role and labels change in place; tokens nothing", async () => {
    const model = new SwarmModel();
    model.addNode(3, "worker");
    const olds = nodeOutputs(3, model);
    const diff = (news: NodeInputs) => swarmNodeProvider.diff!("id", olds, news);
    assert.deepEqual(await diff(nodeInputs(3, { advertiseAddress: "10.0.1.3" })), {
      changes: true,
      replaces: ["advertiseAddress"],
      deleteBeforeReplace: true,
    });
    assert.deepEqual((await diff(nodeInputs(3, { clusterId: "other" }))).replaces, ["clusterId"]);
    const role = await diff(nodeInputs(3, { role: "manager" }));
    assert.deepEqual([role.changes, role.replaces], [true, []]);
    const labels = await diff(nodeInputs(3, { labels: { zone: "c" } }));
    assert.deepEqual([labels.changes, labels.replaces], [true, []]);
    const tokens = await diff(nodeInputs(3, { workerToken: "SWMTKN-rotated" }));
    assert.equal(tokens.changes, false);
  });
});

describe("swarmNodeProvider.delete", () => {
  it("drains the node through the manager, makes it leave, then removes it", async () => {
    const model = new SwarmModel();
    const node = model.addNode(3, "worker", { runningTasks: 2 });
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    install(host1, host3);

    await swarmNodeProvider.delete!("id", nodeOutputs(3, model));

    const id = node.id;
    assert.deepEqual(
      model.log.filter((line) => !/docker (info|node (inspect|ps)) /.test(line)),
      [
        `host-1: docker node update --availability drain ${id}`,
        "host-3: docker swarm leave",
        `host-1: docker node rm --force ${id}`,
      ],
    );
    assert.equal(model.nodes.has(id), false);
    assert.equal(model.local.get(3)?.state, "inactive");
  });

  it("demotes a manager after draining it, before it leaves", async () => {
    const model = new SwarmModel();
    const node = model.addNode(2, "manager");
    const [host1, host2] = [swarmHost(model, 1), swarmHost(model, 2)];
    install(host1, host2);

    await swarmNodeProvider.delete!("id", nodeOutputs(2, model, { role: "manager" }));

    const changes = model.log.filter((line) => !/docker (info|node (inspect|ps)) /.test(line));
    assert.deepEqual(changes, [
      `host-1: docker node update --availability drain ${node.id}`,
      `host-1: docker node demote ${node.id}`,
      "host-2: docker swarm leave",
      `host-1: docker node rm --force ${node.id}`,
    ]);
  });

  it("removes the node of a host that is gone once the manager sees it down", async () => {
    const model = new SwarmModel();
    const node = model.addNode(3, "worker", { state: "down" });
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    host3.unreachable = true;
    install(host1, host3);

    await swarmNodeProvider.delete!("id", nodeOutputs(3, model));

    assert.deepEqual(host3.commands, []);
    assert.equal(host1.ran(/^docker node rm --force /).length, 1);
    assert.equal(model.nodes.has(node.id), false);
  });

  it("with the manager gone, only makes the host leave", async () => {
    const model = new SwarmModel();
    model.addNode(3, "worker");
    const [host1, host3] = [swarmHost(model, 1), swarmHost(model, 3)];
    host1.unreachable = true;
    install(host1, host3);

    await swarmNodeProvider.delete!("id", nodeOutputs(3, model));

    assert.deepEqual(host1.commands, []);
    assert.deepEqual(
      host3.ran(/^docker swarm leave/).map((call) => call.command),
      ["docker swarm leave"],
    );
  });

  it("leaves the first manager alone: it goes with the swarm", async () => {
    const model = new SwarmModel();
    const host1 = swarmHost(model, 1);
    install(host1);

    await swarmNodeProvider.delete!("id", nodeOutputs(1, model, { init: true, role: "manager" }));

    assert.deepEqual(host1.connections, []);
  });
});

// ---- SwarmInit ---------------------------------------------------------------------------------

function initInputs(overrides: Partial<InitInputs> = {}): InitInputs {
  return {
    host: "host-1",
    connection: connection(1),
    logUrn: "",
    advertiseAddress: address(1),
    port: 2377,
    ...overrides,
  };
}

/** Host 1 before the swarm exists: `docker swarm init` makes it the manager of a new one. */
function firstManager(model: SwarmModel): FakeCommander {
  return swarmHost(model, 1)
    .on(/^docker swarm init /, () => {
      model.addNode(1, "manager");
      return { stdout: "Swarm initialized: current node is now a manager.\n" };
    })
    .on(/^docker swarm join-token --quiet (worker|manager)$/, (call) => ({
      stdout: `${call.command.endsWith("worker") ? WORKER_TOKEN : MANAGER_TOKEN}\n`,
    }));
}

describe("swarmInitProvider", () => {
  it("inits the swarm on the private address and reads both join tokens", async () => {
    const model = new SwarmModel();
    model.nodes.clear();
    model.local.clear();
    const host1 = firstManager(model);
    install(host1);

    const { id, outs } = await outputsOf(swarmInitProvider.create(initInputs()));

    assert.deepEqual(
      host1.ran(/^docker swarm init /).map((call) => call.command),
      ["docker swarm init --advertise-addr '10.0.0.1:2377' --listen-addr '10.0.0.1:2377'"],
    );
    assert.equal(id, `host-1-swarm-${CLUSTER_ID}`);
    assert.equal(outs.clusterId, CLUSTER_ID);
    assert.equal(outs.nodeId, model.nodeOf(1)?.id);
    assert.equal(outs.workerToken, WORKER_TOKEN);
    assert.equal(outs.managerToken, MANAGER_TOKEN);
  });

  it("keeps a swarm the host already manages", async () => {
    const model = new SwarmModel();
    const host1 = firstManager(model);
    install(host1);

    const { outs } = await outputsOf(swarmInitProvider.create(initInputs()));

    assert.deepEqual(host1.ran(/^docker swarm init /), []);
    assert.equal(outs.clusterId, CLUSTER_ID);
  });

  it("fails when a join token cannot be read, without printing what was read", async () => {
    const model = new SwarmModel();
    const host1 = firstManager(model).on(/^docker swarm join-token --quiet manager$/, {
      stdout: "garbled SWMTKN-partial\n",
      stderr: "Error response from daemon: rpc error\n",
      code: 1,
    });
    install(host1);

    await assert.rejects(swarmInitProvider.create(initInputs()), (error: Error) => {
      assert.match(error.message, /could not read the manager join token on root@10\.0\.0\.1:22/);
      assert.doesNotMatch(error.message, /SWMTKN/);
      return true;
    });
  });

  it("a first manager made anew rejoins, through a manager that kept quorum, the swarm it made", async () => {
    const model = new SwarmModel();
    // host-1's old machine is gone: its node is down in the list, its new Docker in no swarm.
    const old = model.nodeOf(1)!;
    model.nodes.delete(old.id);
    model.nodes.set("oldnode1", { ...old, id: "oldnode1", state: "down" });
    model.local.set(1, { state: "inactive", nodeId: "", error: "" });
    model.addNode(2, "manager");
    model.addNode(3, "manager");
    const host1 = firstManager(model);
    const host2 = swarmHost(model, 2).on(/^docker swarm join-token --quiet manager$/, {
      stdout: `${MANAGER_TOKEN}\n`,
    });
    const host3 = swarmHost(model, 3);
    install(host1, host2, host3);
    const managers = [2, 3].map((n) => ({
      host: `host-${n}`,
      connection: connection(n),
      advertiseAddress: address(n),
    }));
    const olds: InitOutputs = {
      ...initInputs({ managers }),
      clusterId: CLUSTER_ID,
      nodeId: "oldnode1",
      workerToken: WORKER_TOKEN,
      managerToken: MANAGER_TOKEN,
    };
    const news = initInputs({ managers, connection: { ...connection(1), hostKey: "new key" } });

    const diff = await swarmInitProvider.diff!("id", olds, news);
    assert.deepEqual([diff.changes, diff.replaces], [true, []]);
    const outs = (await swarmInitProvider.update!("id", olds, news)).outs!;

    assert.deepEqual(host1.ran(/^docker swarm init /), []);
    // The old node leaves the raft before the new one joins it.
    assert.deepEqual(
      model.log
        .filter((line) => /node (demote|rm)|swarm\/join/.test(line))
        .map((l) => l.split("\n")[0]),
      [
        "host-2: docker node demote oldnode1",
        "host-2: docker node rm --force oldnode1",
        "host-1: command -v curl >/dev/null || { echo 'curl is needed to join the swarm through the Engine API: install it' >&2; exit 1; }",
      ],
    );
    const join = host1.ran(/\/swarm\/join/)[0];
    assert.equal(joinRequestOf(join).JoinToken, MANAGER_TOKEN);
    assert.deepEqual(joinRequestOf(join).RemoteAddrs, [`${address(2)}:2377`]);
    assert.equal(outs.clusterId, CLUSTER_ID);
    assert.equal(outs.nodeId, model.nodeOf(1)?.id);
    assert.equal(model.nodes.has("oldnode1"), false);
    assert.equal(model.nodeOf(1)?.role, "manager");
  });

  it("another first manager is another swarm: replaced, not updated", async () => {
    const olds: InitOutputs = {
      ...initInputs(),
      clusterId: CLUSTER_ID,
      nodeId: "node1",
      workerToken: WORKER_TOKEN,
      managerToken: MANAGER_TOKEN,
    };
    const news = initInputs({ host: "host-2", connection: { ...connection(2), hostKey: "k2" } });
    const diff = await swarmInitProvider.diff!("id", olds, news);
    assert.deepEqual(diff.replaces, ["connection"]);
  });

  it("delete makes the manager leave the swarm it created, not another one", async () => {
    const model = new SwarmModel();
    const host1 = firstManager(model);
    install(host1);
    const props: InitOutputs = {
      ...initInputs(),
      clusterId: CLUSTER_ID,
      nodeId: model.nodeOf(1)!.id,
      workerToken: WORKER_TOKEN,
      managerToken: MANAGER_TOKEN,
    };

    await swarmInitProvider.delete!("id", { ...props, clusterId: "an-older-swarm" });
    assert.deepEqual(host1.ran(/^docker swarm leave/), []);

    await swarmInitProvider.delete!("id", props);
    assert.deepEqual(
      host1.ran(/^docker swarm leave/).map((call) => call.command),
      ["docker swarm leave --force"],
    );
    assert.equal(model.local.get(1)?.state, "inactive");
  });

  it("delete skips a host that is gone", async () => {
    const host1 = firstManager(new SwarmModel());
    host1.unreachable = true;
    install(host1);

    await swarmInitProvider.delete!("id", {
      ...initInputs(),
      clusterId: CLUSTER_ID,
      nodeId: "node1",
      workerToken: WORKER_TOKEN,
      managerToken: MANAGER_TOKEN,
    });
    assert.deepEqual(host1.commands, []);
  });
});

// ---- SwarmNetwork ------------------------------------------------------------------------------

function networkInputs(overrides: Partial<NetworkInputs> = {}): NetworkInputs {
  return {
    host: "host-1",
    connection: connection(1),
    logUrn: "",
    network: { name: "apps", attachable: true, encrypted: true, subnet: "10.20.0.0/24" },
    labels: { "dockfleet.stack": "dev" },
    clusterId: CLUSTER_ID,
    ...overrides,
  };
}

const observedApps = JSON.stringify([
  {
    Name: "apps",
    Driver: "overlay",
    Scope: "swarm",
    Attachable: true,
    Options: { encrypted: "" },
    IPAM: { Config: [{ Subnet: "10.20.0.0/24" }] },
  },
]);

describe("swarmNetworkProvider", () => {
  it("creates a missing overlay network with its options and labels", async () => {
    const host1 = new FakeCommander("10.0.0.1:22")
      .on(/^docker network inspect apps$/, notFound("network apps"))
      .on(/^docker network create /, { stdout: "k2hv0c6aw3jw\n" });
    install(host1);

    await swarmNetworkProvider.create(networkInputs());

    assert.deepEqual(
      host1.ran(/^docker network create /).map((call) => call.command),
      [
        "docker network create --driver overlay --attachable --opt encrypted " +
          "--subnet 10.20.0.0/24 --label dockfleet.stack=dev apps",
      ],
    );
  });

  it("keeps a network that exists as wanted, refuses one that differs", async () => {
    const host1 = new FakeCommander("10.0.0.1:22").on(/^docker network inspect apps$/, {
      stdout: observedApps,
    });
    install(host1);

    await swarmNetworkProvider.create(networkInputs());
    await assert.rejects(
      swarmNetworkProvider.create(
        networkInputs({ network: { name: "apps", attachable: true, encrypted: false } }),
      ),
      /a network named "apps" already exists with encrypted true, not false/,
    );
    assert.deepEqual(host1.ran(/^docker network create /), []);
  });

  it("delete names the way out when the network is still in use", async () => {
    const host1 = new FakeCommander("10.0.0.1:22")
      .on(/^docker info --format '\{\{\.Swarm\.LocalNodeState\}\}'$/, { stdout: "active\n" })
      .on(/^docker network inspect apps$/, { stdout: observedApps })
      .on(/^docker network rm apps$/, {
        code: 1,
        stderr:
          "Error response from daemon: error while removing network: network apps id k2hv has active endpoints\n",
      });
    install(host1);

    await assert.rejects(
      swarmNetworkProvider.delete!("id", networkInputs()),
      /overlay network apps is still in use: remove the services and containers attached to it first/,
    );
  });

  it("delete does nothing on a host that left the swarm", async () => {
    const host1 = new FakeCommander("10.0.0.1:22").on(/^docker info /, { stdout: "inactive\n" });
    install(host1);

    await swarmNetworkProvider.delete!("id", networkInputs());

    assert.deepEqual(host1.commandLines, ["docker info --format '{{.Swarm.LocalNodeState}}'"]);
  });
});

// ---- SwarmStack --------------------------------------------------------------------------------

type StackOutputs = Parameters<NonNullable<typeof swarmStackProvider.delete>>[1];

function stackOutputs(): StackOutputs {
  return {
    host: "host-1",
    connection: connection(1),
    logUrn: "",
    stackName: "counter",
    stackFile: "services: {}\n",
    secrets: {},
    swarmReady: CLUSTER_ID,
    requiresIpvs: false,
    convergeTimeoutSeconds: 60,
    secretValues: {},
    secretVersions: {},
    services: ["counter_web"],
  };
}

describe("swarmStackProvider.delete", () => {
  const listing =
    /^docker service ls -q --filter label=com\.docker\.stack\.namespace='counter'; echo --; /;

  it("removes again a network docker stack rm gave up on, once the services are gone", async () => {
    let networkLeft = true;
    const host1 = new FakeCommander("10.0.0.1:22")
      // stack rm removes the services but fails on the network its tasks still hold.
      .on(/^docker stack rm 'counter'$/, {
        code: 1,
        stderr: "Failed to remove network k2hv0c6aw3jw: network is in use by task\n",
      })
      .on(listing, () => ({
        stdout: networkLeft ? "--\nk2hv0c6aw3jw\n--\n" : "--\n--\n",
      }))
      .on(/^docker network rm 'k2hv0c6aw3jw'$/, () => {
        networkLeft = false;
        return { stdout: "k2hv0c6aw3jw\n" };
      })
      .on(/^docker secret ls /, { stdout: "" })
      .on(/^rm -rf /, {});
    install(host1);

    await swarmStackProvider.delete!("id", stackOutputs());

    assert.equal(host1.ran(/^docker network rm 'k2hv0c6aw3jw'$/).length, 1);
    assert.ok(host1.indexOf(/^docker network rm /) > host1.indexOf(/^docker stack rm /));
  });

  it("leaves a network alone while the stack's services are still going", async () => {
    let checks = 0;
    const host1 = new FakeCommander("10.0.0.1:22")
      .on(/^docker stack rm 'counter'$/, {})
      .on(listing, () => {
        checks += 1;
        return { stdout: checks === 1 ? "s7x2counterweb\n--\nk2hv0c6aw3jw\n--\n" : "--\n--\n" };
      })
      .on(/^docker secret ls /, { stdout: "" })
      .on(/^rm -rf /, {});
    install(host1);

    await swarmStackProvider.delete!("id", stackOutputs());

    assert.equal(checks, 2);
    assert.deepEqual(host1.ran(/^docker network rm /), []);
  });
});
