import assert from "node:assert/strict";
import { planQemuNetwork, planQemuVms } from "../../components/machines/qemu/plan";
import { describe, it } from "node:test";
import fc from "fast-check";
import { renderCounterStackFile, renderWordPressStackFile } from "../../components/apps/plan";
import { resolveCounterConfig, resolveWordPressConfig } from "../../components/apps/config";
import { resolveEngineConfig } from "../../components/engine/config";
import { renderEngineDaemonJson, renderInstallEnv } from "../../components/engine/docker-engine";
import { resolveEtcdConfig } from "../../components/etcd/config";
import {
  etcdPlanWarnings,
  renderEtcdEnv,
  renderEtcdInstallEnv,
  renderEtcdUrl,
  renderInitialCluster,
  selectEtcdMemberHosts,
} from "../../components/etcd/plan";
import { planFirewallRules } from "../../components/machines/cloud/firewall";
import {
  localResourceNames,
  planLocalHosts,
  renderNetworkCreateArgs,
} from "../../components/machines/local/run-args";
import { planVirtualBoxVms } from "../../components/machines/virtualbox/plan";
import { resolveVirtualBoxPaths } from "../../components/machines/virtualbox/virtualbox-machines";
import { resolveRegistryConfig } from "../../components/registry/config";
import {
  certsDirCaPath,
  registryAddress,
  registryHostUsername,
  renderRegistryConfigYml,
  renderRegistryServerEnv,
} from "../../components/registry/plan";
import {
  plannedHostNames,
  resolveStackConfig,
  servicePorts,
  type StackConfig,
} from "../../components/stack/config";
import { resolveSwarmConfig } from "../../components/swarm/config";
import {
  planSwarm,
  renderNetworkCreateArgs as renderOverlayCreateArgs,
  renderSwarmInitCommand,
  renderSwarmJoinRequest,
} from "../../components/swarm/plan";
import { ConfigError } from "../../provision/config/errors";
import { toAllConfig } from "./bad-config-cases";

/**
 * Every refusal happens in the schema: any stack config resolveStackConfig accepts is planned
 * without throwing by what the program runs before and while it registers resources (each
 * component's resolve and plan.ts). Configs are built from the schema's own keys, with valid and
 * invalid values mixed; about a quarter are accepted. A fixed seed keeps the run repeatable;
 * search further with PROPERTY_RUNS=50000 PROPERTY_SEED=<n>.
 */

/** Leave the key out, or give one of the values. */
function maybe<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arbitrary, { nil: undefined, freq: 2 });
}

/** An object without the keys left out (undefined), as a stack file would have it. */
function record<T extends Record<string, fc.Arbitrary<unknown>>>(fields: T) {
  return fc
    .record(fields)
    .map((value) =>
      Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)),
    );
}

const NAMES = ["host-1", "host-2", "host-3", "host-4", "web-1", "web-2", "db-1"];
const SHARED_PORTS = [22, 2376, 2377, 2379, 2380, 4789, 5000, 7946, 8000, 8080, 0, 70000];
const CIDRS = ["172.30.10.0/24", "10.30.0.0/24", "10.20.0.0/16", "10.20.5.0/24", "10.70.8.0/24"];
const BAD_CIDRS = [
  "172.30.10.5/24",
  "172.17.0.0/24",
  "172.18.0.0/24",
  "300.0.0.0/24",
  "10.0.0.0/33",
];
const SSH_HOSTS = [
  { name: "web-1", address: "10.0.0.1" },
  { name: "web-2", address: "10.0.0.2", privateAddress: "10.1.0.2", port: 2222 },
  { name: "db-1", address: "db-1.example.com" },
];

/**
 * The stack config's keys with values from `good`, or, in a "mixed" config, from `good` and
 * `bad` alike: clean configs are mostly accepted (some still collide or overflow), mixed ones
 * mostly refused, so that both sides are exercised.
 */
function stackConfigArbitrary(mixed: boolean) {
  const pick = <T>(good: readonly T[], bad: readonly T[]): fc.Arbitrary<T> =>
    mixed ? fc.constantFrom(...good, ...bad) : fc.constantFrom(...good);
  /** A port key: its own values in a clean config, any of the shared ones in a mixed one. */
  const port = (...own: number[]) => maybe(pick(own, SHARED_PORTS));
  const cidr = fc.oneof(
    pick(CIDRS, BAD_CIDRS),
    fc
      .tuple(
        fc.constantFrom(10, 172, 192),
        fc.nat(255),
        fc.nat(255),
        fc.integer({ min: 8, max: 30 }),
      )
      .map(([a, b, c, prefix]) => {
        // A network address: the host bits cleared.
        const size = 2 ** (32 - prefix);
        const base = Math.floor((a * 2 ** 24 + b * 2 ** 16 + c * 2 ** 8) / size) * size;
        return `${[24, 16, 8, 0].map((shift) => Math.floor(base / 2 ** shift) % 256).join(".")}/${prefix}`;
      }),
  );
  const path = (good: string) =>
    maybe(
      pick([good, "/srv/data"], ["/", "/etc/x", "/var/lib/docker/x", "/srv/../etc", "rel", "/var"]),
    );
  const url = pick(
    ["https://mirror.example.com", "http://10.0.0.5:5000", "https://mirrors.example.com/etcd/"],
    ["ftp://x", "https://u:p@mirror.example.com", "https://mirror.example.com/?a=b", "mirror"],
  );
  const hostNames = pick(NAMES.slice(0, 3), NAMES.slice(3));
  const sshHosts = mixed
    ? fc.array(
        record({
          name: fc.constantFrom(...NAMES, "Web_1"),
          address: fc.constantFrom("10.0.0.1", "10.0.0.2", "web-1.example.com", "10.0.0.1 x", "-o"),
          privateAddress: maybe(fc.constantFrom("10.1.0.1", "10.1.0.2", "a\nb")),
          port: port(22),
        }),
        { maxLength: 4 },
      )
    : fc.subarray(SSH_HOSTS, { minLength: 1 });
  /** A driver's section: always there in a clean config, as its driver requires. */
  const section = <T>(arbitrary: fc.Arbitrary<T>) => (mixed ? maybe(arbitrary) : arbitrary);
  return record({
    driver: maybe(
      pick(["local", "local", "ssh", "aws", "aliyun", "virtualbox", "qemu"], ["vagrant"]),
    ),
    hosts: maybe(mixed ? fc.integer({ min: 0, max: 22 }) : fc.integer({ min: 1, max: 6 })),
    namePrefix: maybe(
      pick(["host", "web", `n${"0".repeat(31)}`], ["Host_1", `n${"0".repeat(32)}`]),
    ),
    local: maybe(record({ subnet: maybe(cidr) })),
    sshHosts: section(sshHosts),
    engine: maybe(
      record({
        source: mixed
          ? maybe(fc.constantFrom("distro", "docker-ce", "mirror"))
          : fc.constant("mirror"),
        mirrorUrl: (mixed ? maybe : <T>(value: T) => value)(
          fc.oneof(fc.constantFrom("aliyun", "tuna"), url),
        ),
        tlsPort: port(2376, 12376),
        registryMirrors: maybe(fc.array(url, { maxLength: 2 })),
        insecureRegistries: maybe(
          fc.array(
            pick(["10.0.0.5:5000", "10.0.0.0/24", "registry.local"], ["0.0.0.0/0", "::/0"]),
            {
              maxLength: 2,
            },
          ),
        ),
        liveRestore: maybe(fc.boolean()),
        labels: maybe(fc.dictionary(pick(["zone", "dockfleet.io-x"], ["Bad Key"]), fc.string())),
        daemonOptions: maybe(
          pick<Record<string, unknown>>(
            [{ debug: true }, { "data-root": "/srv/docker" }],
            [{ hosts: ["tcp://0.0.0.0:1"] }],
          ),
        ),
        logMaxSize: maybe(pick(["10m", "1g"], ["10MB"])),
      }),
    ),
    aws: section(
      record({
        region: fc.constant("eu-west-1"),
        adminCidrs: pick([["203.0.113.7/32"]], [["0.0.0.0/0"]]),
        vpcCidr: maybe(pick(["10.70.0.0/16"], ["10.20.0.0/16", "10.70.0.1/16"])),
      }),
    ),
    aliyun: section(
      record({
        region: fc.constant("cn-hangzhou"),
        adminCidrs: fc.constant(["203.0.113.7/32"]),
        osMirror: maybe(fc.oneof(url, fc.constant("none"))),
      }),
    ),
    virtualbox: section(
      record({
        image: fc.constant("images/debian-12.ova"),
        hostOnlyCidr: maybe(pick(["192.168.56.0/24", "192.168.57.0/28"], ["10.0.0.0/24"])),
        workDir: maybe(pick([".dockfleet/virtualbox", "/srv/vms"], ["../vms", "/etc/vms"])),
      }),
    ),
    etcd: maybe(
      record({
        enabled: fc.boolean(),
        members: maybe(
          fc.oneof(
            fc.integer({ min: mixed ? 0 : 1, max: mixed ? 10 : 5 }),
            mixed
              ? fc.array(hostNames, { minLength: 1, maxLength: 3 })
              : fc.uniqueArray(hostNames, { minLength: 1, maxLength: 3 }),
          ),
        ),
        clientPort: port(2379, 12379),
        peerPort: port(2380, 12380),
        dataDir: path("/var/lib/etcd/dockfleet"),
        source: maybe(fc.constantFrom("distro", "tarball")),
        downloadUrl: maybe(url),
        sha256: maybe(pick([{ amd64: "ab".repeat(32) }], [{ amd64: "AB" }])),
        clusterToken: maybe(pick(["tok-1"], ["bad token"])),
        extraFlags: maybe(
          fc.dictionary(
            pick(["auto-compaction-retention", "quota-backend-bytes"], ["name", "Bad"]),
            pick(["1", "8589934592", "1h"], ["1 h", "a'b", "$x", ""]),
          ),
        ),
      }),
    ),
    swarm: maybe(
      record({
        enabled: fc.boolean(),
        hosts: maybe(
          mixed
            ? fc.array(hostNames, { maxLength: 3 })
            : fc.uniqueArray(hostNames, { minLength: 1, maxLength: 3 }),
        ),
        managers: maybe(fc.integer({ min: mixed ? 0 : 1, max: 4 })),
        workers: maybe(fc.integer({ min: 0, max: 4 })),
        port: port(2377, 12377),
        nodes: maybe(
          fc.dictionary(
            hostNames,
            record({ availability: maybe(fc.constantFrom("active", "drain", "pause")) }),
            { maxKeys: 2 },
          ),
        ),
        networks: maybe(
          fc.uniqueArray(
            record({
              name: pick(["apps", "db", "front"], ["-bad"]),
              subnet: maybe(cidr),
              encrypted: maybe(fc.boolean()),
            }),
            // Duplicate names only in a mixed config.
            { maxLength: 3, selector: (network) => (mixed ? {} : network.name) },
          ),
        ),
      }),
    ),
    registry: maybe(
      record({
        enabled: fc.boolean(),
        host: maybe(hostNames),
        port: port(5000, 15000),
        runAs: maybe(fc.constantFrom("service", "container")),
        storagePath: path("/var/lib/docker-registry"),
        proxy: maybe(
          fc.oneof(
            record({ remoteUrl: url }),
            record({
              remoteUrl: url,
              username: pick(["bob"], [undefined]),
              password: pick(["hunter22"], [undefined]),
            }),
          ),
        ),
      }),
    ),
    apps: maybe(
      record({
        enabled: fc.boolean(),
        pushImages: mixed ? maybe(fc.boolean()) : fc.constant(false),
        publishMode: maybe(fc.constantFrom("ingress", "host")),
        counter: maybe(record({ enabled: maybe(fc.boolean()), port: port(8000, 18000) })),
        wordpress: maybe(
          record({
            enabled: maybe(fc.boolean()),
            port: port(8080, 18080),
            databaseConstraints: maybe(fc.constantFrom([], ["node.hostname == host-1"])),
          }),
        ),
      }),
    ),
  });
}

const stackConfig = fc.oneof(stackConfigArbitrary(false), stackConfigArbitrary(true));

/** What the program and its components compute from an accepted config, before any host answers. */
function planAccepted(config: StackConfig): void {
  const names = plannedHostNames(config);
  const addresses = names.map((_, index) => `10.9.0.${index + 10}`);
  // Machines.
  if (config.driver === "local") {
    planLocalHosts({
      count: config.hosts,
      namePrefix: config.namePrefix,
      subnet: config.local.subnet,
    });
    renderNetworkCreateArgs({ stack: "fuzz", subnet: config.local.subnet });
    for (const name of names) localResourceNames("fuzz", name);
  }
  if (config.driver === "virtualbox" && config.virtualbox !== undefined) {
    planVirtualBoxVms({
      stack: "fuzz",
      count: config.hosts,
      namePrefix: config.namePrefix,
      config: resolveVirtualBoxPaths(config.virtualbox, "/project"),
    });
  }
  if (config.driver === "qemu") {
    planQemuNetwork("fuzz", config.qemu.subnet);
    planQemuVms({
      stack: "fuzz",
      count: config.hosts,
      namePrefix: config.namePrefix,
      config: config.qemu,
    });
  }
  for (const cloud of [config.aws, config.aliyun]) {
    if (cloud !== undefined) {
      planFirewallRules({ adminCidrs: cloud.adminCidrs, ports: servicePorts(config) });
    }
  }
  // Engines, as the program resolves live-restore.
  const engine = resolveEngineConfig({
    ...config.engine,
    liveRestore: config.engine.liveRestore ?? !config.swarm.enabled,
  });
  renderInstallEnv(engine);
  for (const name of names) renderEngineDaemonJson(engine, { "dockfleet.io/host": name });
  // etcd.
  if (config.etcd.enabled) {
    const etcd = resolveEtcdConfig(config.etcd);
    const hosts = names.map((name, index) => ({ name, address: addresses[index] }));
    const members = selectEtcdMemberHosts(hosts, etcd.members);
    etcdPlanWarnings(members.length);
    renderEtcdInstallEnv(etcd);
    const peers = members.map((host) => ({
      name: host.name,
      peerUrl: renderEtcdUrl(host.address, etcd.peerPort),
    }));
    for (const member of members) {
      renderEtcdEnv({
        name: member.name,
        privateAddress: member.address,
        clientPort: etcd.clientPort,
        peerPort: etcd.peerPort,
        dataDir: etcd.dataDir,
        initialCluster: renderInitialCluster(peers),
        initialClusterState: "new",
        initialClusterToken: etcd.clusterToken ?? "dockfleet-etcd",
        heartbeatIntervalMs: etcd.heartbeatIntervalMs,
        electionTimeoutMs: etcd.electionTimeoutMs,
        enableV2: etcd.dockerClusterStore,
        extraFlags: etcd.extraFlags,
      });
    }
  }
  // The swarm.
  if (config.swarm.enabled) {
    const swarm = resolveSwarmConfig(config.swarm);
    const plan = planSwarm(names, swarm);
    renderSwarmInitCommand(addresses[0], plan.port);
    renderSwarmJoinRequest(addresses[0], plan.port, `${addresses[0]}:${plan.port}`, "TOKEN");
    for (const network of plan.networks) renderOverlayCreateArgs(network, { a: "b" });
  }
  // The registry.
  if (config.registry.enabled) {
    const registry = resolveRegistryConfig(config.registry);
    const host = registry.host ?? names[0];
    assert.ok(names.includes(host), `registry host ${host} is a host`);
    const { authentication } = registry;
    renderRegistryConfigYml({
      runAs: registry.runAs,
      storagePath: registry.storagePath,
      port: registry.port,
      listenAddress: addresses[0],
      authentication,
      deleteEnabled: registry.deleteEnabled,
      proxy: registry.proxy,
    });
    renderRegistryServerEnv({
      runAs: registry.runAs,
      port: registry.port,
      listenAddress: addresses[0],
      storagePath: registry.storagePath,
      image: registry.image,
      authentication,
    });
    for (const name of names) registryHostUsername(registry.username, name);
    certsDirCaPath(registryAddress(addresses[names.indexOf(host)], registry.port));
  }
  // The sample apps.
  if (config.apps.enabled && config.swarm.enabled) {
    const counter = resolveCounterConfig(config.apps.counter);
    const wordpress = resolveWordPressConfig(config.apps.wordpress);
    renderCounterStackFile({
      webImage: counter.webImage,
      redisImage: counter.redisImage,
      port: counter.port,
      replicas: counter.replicas,
      publishMode: config.apps.publishMode,
    });
    renderWordPressStackFile({
      wordpressImage: wordpress.wordpressImage,
      databaseImage: wordpress.databaseImage,
      port: wordpress.port,
      publishMode: config.apps.publishMode,
      passwordSecretName: "wordpress_db_password",
      databaseConstraints: wordpress.databaseConstraints,
    });
  }
}

describe("stack config, property-based: every refusal happens in the schema", () => {
  it("plans every config the schema accepts without throwing", () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(stackConfig, (input) => {
        let config: StackConfig;
        try {
          config = resolveStackConfig(toAllConfig(input));
        } catch (error) {
          // A refusal must be a ConfigError: anything else is a crash in the schema.
          assert.ok(error instanceof ConfigError, String(error));
          refused++;
          return;
        }
        accepted++;
        planAccepted(config);
      }),
      {
        numRuns: Number(process.env.PROPERTY_RUNS ?? 4000),
        seed:
          process.env.PROPERTY_SEED === undefined ? 20261203 : Number(process.env.PROPERTY_SEED),
      },
    );
    // Both sides are exercised, not only the refusals.
    if (process.env.PROPERTY_RUNS)
      process.stderr.write(`${accepted} accepted, ${refused} refused\n`);
    assert.ok(accepted >= 300, `${accepted} accepted of ${accepted + refused}`);
    assert.ok(refused >= 300, `${refused} refused of ${accepted + refused}`);
  });
});
