import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveSwarmClusterArgs, type SwarmClusterArgs } from "../../provider/swarm-args";

/**
 * The served SwarmCluster's plain arguments mapped onto the library's swarm config: roles become
 * the host order and the manager count, per-host labels and availability become `nodes`, and a
 * bad value is refused with the argument's name before anything is created.
 */

const host = (name: string, extra: Partial<SwarmClusterArgs["hosts"][number]> = {}) => ({
  name,
  address: `192.0.2.${name.length}`,
  ...extra,
});

describe("resolveSwarmClusterArgs", () => {
  it("makes the first host the manager and the others workers by default", () => {
    const { hosts, swarm } = resolveSwarmClusterArgs("s", {
      privateKey: "key",
      hosts: [host("one"), host("two"), host("three")],
    });
    assert.deepEqual(
      hosts.map((entry) => entry.name),
      ["one", "two", "three"],
    );
    assert.deepEqual(swarm.hosts, ["one", "two", "three"]);
    assert.equal(swarm.managers, 1);
    assert.equal(swarm.workers, 2);
    assert.equal(swarm.enabled, true);
    assert.equal(swarm.port, 2377);
    assert.deepEqual(swarm.nodes, {});
  });

  it("lists the managers first, each group in the order given", () => {
    const { hosts, swarm } = resolveSwarmClusterArgs("s", {
      privateKey: "key",
      hosts: [
        host("w1", { role: "worker" }),
        host("m1", { role: "manager" }),
        host("w2", { role: "worker" }),
        host("m2", { role: "manager" }),
        host("m3", { role: "manager" }),
      ],
    });
    assert.deepEqual(swarm.hosts, ["m1", "m2", "m3", "w1", "w2"]);
    assert.deepEqual(
      hosts.map((entry) => entry.name),
      swarm.hosts,
    );
    assert.equal(swarm.managers, 3);
    assert.equal(swarm.workers, 2);
  });

  it("passes node labels, availability, the port and the networks to the swarm config", () => {
    const { swarm } = resolveSwarmClusterArgs("s", {
      privateKey: "key",
      swarmPort: 2400,
      labels: { zone: "a" },
      networks: [{ name: "apps", subnet: "10.20.0.0/24" }],
      hosts: [host("m1"), host("w1", { availability: "drain", labels: { tier: "db" } })],
    });
    assert.equal(swarm.port, 2400);
    assert.deepEqual(swarm.labels, { zone: "a" });
    assert.deepEqual(swarm.nodes, { w1: { availability: "drain", labels: { tier: "db" } } });
    assert.deepEqual(swarm.networks, [
      { name: "apps", attachable: true, encrypted: false, subnet: "10.20.0.0/24" },
    ]);
  });

  it("refuses a role it does not know, naming the argument and the value", () => {
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1"), host("w1", { role: "boss" })],
        }),
      /SwarmCluster s\.hosts\[1\]\.role = "boss": must be "manager" or "worker"/,
    );
  });

  it("refuses hosts without a manager, and no hosts at all", () => {
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("w1", { role: "worker" }), host("w2", { role: "worker" })],
        }),
      /SwarmCluster s\.hosts = \["w1","w2"\]: needs a host with role "manager"/,
    );
    assert.throws(
      () => resolveSwarmClusterArgs("s", { privateKey: "key", hosts: [] }),
      /needs a host with role "manager"/,
    );
  });

  it("puts the registry on the first manager by default, with the registry config's defaults", () => {
    const none = resolveSwarmClusterArgs("s", { privateKey: "key", hosts: [host("w1")] });
    assert.equal(none.registry, undefined);
    const { registry } = resolveSwarmClusterArgs("s", {
      privateKey: "key",
      hosts: [host("w1", { role: "worker" }), host("m1", { role: "manager" })],
      registry: { username: "fleet" },
    });
    assert.equal(registry?.host, "m1");
    assert.equal(registry.username, "fleet");
    assert.equal(registry.port, 5000);
    assert.equal(registry.runAs, "service");
    assert.equal(registry.authentication, true);
    assert.equal(registry.loginOnHosts, true);
  });

  it("refuses a registry host outside the swarm, and a bad registry setting, by name", () => {
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1"), host("w1")],
          registry: { host: "elsewhere" },
        }),
      /SwarmCluster s\.registry\.host = "elsewhere": must be one of the swarm's hosts \(m1, w1\)/,
    );
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1")],
          registry: { port: 70000 },
        }),
      /SwarmCluster s\.registry\.port = 70000/,
    );
  });

  it("runs etcd on the managers by default, on the hosts named otherwise", () => {
    const hosts = [host("m1"), host("m2", { role: "manager" }), host("m3", { role: "manager" })];
    const byDefault = resolveSwarmClusterArgs("s", {
      privateKey: "key",
      hosts: [...hosts, host("w1")],
      etcd: {},
    }).etcd;
    assert.deepEqual(byDefault?.members, ["m1", "m2", "m3"]);
    assert.equal(byDefault.clientPort, 2379);
    assert.equal(byDefault.source, "distro");
    const named = resolveSwarmClusterArgs("s", {
      privateKey: "key",
      hosts: [...hosts, host("w1")],
      etcd: { members: ["w1"], clientPort: 12379, removeOnDestroy: true },
    }).etcd;
    assert.deepEqual(named?.members, ["w1"]);
    assert.equal(named.clientPort, 12379);
    assert.equal(named.removeOnDestroy, true);
  });

  it("refuses an etcd member outside the swarm, and equal ports, by name", () => {
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1")],
          etcd: { members: ["m1", "nowhere"] },
        }),
      /SwarmCluster s\.etcd\.members\[1\] = "nowhere"/,
    );
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1")],
          etcd: { clientPort: 2380 },
        }),
      /SwarmCluster s\.etcd\.peerPort.*: must differ from clientPort/,
    );
  });

  it("refuses what the swarm config refuses, under the component's name", () => {
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1"), host("m1")],
        }),
      /SwarmCluster s\.hosts = .*twice/,
    );
    assert.throws(
      () =>
        resolveSwarmClusterArgs("s", {
          privateKey: "key",
          hosts: [host("m1", { availability: "sleepy" })],
        }),
      /SwarmCluster s\.nodes\.m1\.availability = "sleepy"/,
    );
    assert.throws(
      () => resolveSwarmClusterArgs("s", { privateKey: "key", hosts: [host("Bad_Name")] }),
      /SwarmCluster s\.hosts\[0\] = "Bad_Name": must be a host name/,
    );
  });
});
