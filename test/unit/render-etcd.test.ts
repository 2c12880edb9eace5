import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_ETCD_CONFIG, resolveEtcdConfig } from "../../components/etcd";
import { ConfigError } from "../../provision/config/errors";
import {
  checkRemovalKeepsQuorum,
  dockerMajorVersion,
  etcdEnvName,
  etcdQuorum,
  parseEtcdMemberList,
  parseHealthyEndpoints,
  planEtcdJoin,
  renderDockerClusterStoreOptions,
  renderEtcdctlCommand,
  renderEtcdEnv,
  renderEtcdFlags,
  renderEtcdInstallEnv,
  renderEtcdTarballUrl,
  renderEtcdUrl,
  renderInitialCluster,
  etcdPlanWarnings,
  selectEtcdMemberHosts,
  type EtcdMemberSettings,
} from "../../components/etcd/plan";

const HOSTS = ["host-1", "host-2", "host-3", "host-4", "host-5"].map((name) => ({ name }));

const PEERS = [
  { name: "host-1", peerUrl: "https://10.0.0.1:2380" },
  { name: "host-2", peerUrl: "https://10.0.0.2:2380" },
  { name: "host-3", peerUrl: "https://10.0.0.3:2380" },
];

const SETTINGS: EtcdMemberSettings = {
  name: "host-2",
  privateAddress: "10.0.0.2",
  clientPort: 2379,
  peerPort: 2380,
  dataDir: "/var/lib/etcd/dockfleet",
  initialCluster: renderInitialCluster(PEERS),
  initialClusterState: "new",
  initialClusterToken: "dockfleet-etcd",
  heartbeatIntervalMs: 100,
  electionTimeoutMs: 1000,
};

/** `etcdctl member list` of a 3.4 cluster: host-3 bootstrapped but not started yet. */
const LIST_BOOTSTRAPPING = `2943212f5e2cf73, started, host-3, https://10.0.0.3:2380, , false
2e1259d415f2a040, started, host-1, https://10.0.0.1:2380, https://10.0.0.1:2379, false
bdae9bbc11dd390d, started, host-2, https://10.0.0.2:2380, https://10.0.0.2:2379, false
`;
const LIST_FORMED = LIST_BOOTSTRAPPING.replace(
  "https://10.0.0.3:2380, , false",
  "https://10.0.0.3:2380, https://10.0.0.3:2379, false",
);

describe("selectEtcdMemberHosts", () => {
  it("takes the first N hosts for a count, the named ones in order for a list", () => {
    assert.deepEqual(
      selectEtcdMemberHosts(HOSTS, 3).map((host) => host.name),
      ["host-1", "host-2", "host-3"],
    );
    assert.deepEqual(
      selectEtcdMemberHosts(HOSTS, ["host-5", "host-2", "host-4"]).map((host) => host.name),
      ["host-5", "host-2", "host-4"],
    );
  });

  it("names what is wrong: too many members, an unknown host, a host twice", () => {
    assert.throws(
      () => selectEtcdMemberHosts(HOSTS.slice(0, 2), 3),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems[0] === "dockfleet:etcd.members = 3: must be at most the number of hosts (2)",
    );
    assert.throws(
      () => selectEtcdMemberHosts(HOSTS, ["host-1", "db-1"]),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems[0] ===
          'dockfleet:etcd.members[1] = "db-1": must be a host of this environment (host-1, host-2, host-3, host-4, host-5)',
    );
    assert.throws(() => selectEtcdMemberHosts(HOSTS, ["host-1", "host-1"]), /lists a host twice/);
  });
});

describe("etcdPlanWarnings", () => {
  it("warns about an even member count only", () => {
    assert.deepEqual(etcdPlanWarnings(1), []);
    assert.deepEqual(etcdPlanWarnings(3), []);
    assert.deepEqual(etcdPlanWarnings(4), [
      "dockfleet:etcd.members: 4 members tolerate no more failures than 3 (quorum 3) and add " +
        "one more that can fail; use an odd number",
    ]);
  });
});

describe("renderEtcdFlags / renderEtcdEnv", () => {
  it("renders TLS on client and peer URLs at the private address, with the bootstrap flags", () => {
    assert.deepEqual(renderEtcdFlags(SETTINGS), [
      "--name=host-2",
      "--data-dir=/var/lib/etcd/dockfleet",
      "--listen-client-urls=https://10.0.0.2:2379,https://127.0.0.1:2379",
      "--advertise-client-urls=https://10.0.0.2:2379",
      "--listen-peer-urls=https://10.0.0.2:2380",
      "--initial-advertise-peer-urls=https://10.0.0.2:2380",
      "--initial-cluster=host-1=https://10.0.0.1:2380,host-2=https://10.0.0.2:2380,host-3=https://10.0.0.3:2380",
      "--initial-cluster-state=new",
      "--initial-cluster-token=dockfleet-etcd",
      "--cert-file=/etc/etcd/pki/member.pem",
      "--key-file=/etc/etcd/pki/member-key.pem",
      "--trusted-ca-file=/etc/etcd/pki/ca.pem",
      "--client-cert-auth=true",
      "--client-crl-file=/etc/etcd/pki/client-crl.pem",
      "--peer-cert-file=/etc/etcd/pki/peer.pem",
      "--peer-key-file=/etc/etcd/pki/peer-key.pem",
      "--peer-trusted-ca-file=/etc/etcd/pki/peer-ca.pem",
      "--peer-client-cert-auth=true",
      "--peer-crl-file=/etc/etcd/pki/peer-crl.pem",
      "--heartbeat-interval=100",
      "--election-timeout=1000",
    ]);
  });

  it("adds the v2 API for Docker's cluster store and extra flags sorted, refusing managed ones", () => {
    const flags = renderEtcdFlags({
      ...SETTINGS,
      enableV2: true,
      extraFlags: { "quota-backend-bytes": "4294967296", "auto-compaction-retention": "1" },
    });
    assert.deepEqual(flags.slice(-3), [
      "--enable-v2=true",
      "--auto-compaction-retention=1",
      "--quota-backend-bytes=4294967296",
    ]);
    assert.throws(
      () => renderEtcdFlags({ ...SETTINGS, extraFlags: { "data-dir": "/tmp" } }),
      /--data-dir is set by dockfleet/,
    );
    assert.throws(
      () => renderEtcdFlags({ ...SETTINGS, extraFlags: { "log-level": "debug; rm -rf /" } }),
      /cannot be passed safely/,
    );
  });

  it("writes the same settings as ETCD_* variables for /etc/default/etcd", () => {
    const env = renderEtcdEnv({ ...SETTINGS, initialClusterState: "existing" });
    const lines = env.split("\n");
    assert.match(lines[0], /^# Managed by dockfleet/);
    assert.ok(lines.includes("ETCD_NAME=host-2"));
    assert.ok(lines.includes("ETCD_INITIAL_CLUSTER_STATE=existing"));
    assert.ok(lines.includes("ETCD_PEER_CLIENT_CERT_AUTH=true"));
    assert.ok(
      lines.includes("ETCD_LISTEN_CLIENT_URLS=https://10.0.0.2:2379,https://127.0.0.1:2379"),
    );
    assert.equal(lines.filter((line) => line.startsWith("ETCD_")).length, 21);
    assert.equal(env.at(-1), "\n");
    assert.equal(etcdEnvName("--initial-cluster-token"), "ETCD_INITIAL_CLUSTER_TOKEN");
  });

  it("brackets IPv6 addresses in URLs", () => {
    assert.equal(renderEtcdUrl("fd00::2", 2380), "https://[fd00::2]:2380");
  });

  it("refuses an initial cluster with a name twice", () => {
    assert.throws(
      () => renderInitialCluster([PEERS[0], PEERS[0]]),
      /two members are named "host-1"/,
    );
  });
});

describe("parseEtcdMemberList", () => {
  it("reads started, bootstrapping and added-but-unstarted members", () => {
    const members = parseEtcdMemberList(
      `${LIST_BOOTSTRAPPING}8e9e05c52164694d, unstarted, , https://10.0.0.4:2380, , false\n`,
    );
    assert.equal(members.length, 4);
    assert.deepEqual(members[0], {
      id: "2943212f5e2cf73",
      status: "started",
      name: "host-3",
      peerUrls: ["https://10.0.0.3:2380"],
      clientUrls: [],
      isLearner: false,
    });
    assert.deepEqual(members[1].clientUrls, ["https://10.0.0.1:2379"]);
    assert.equal(members[3].status, "unstarted");
    assert.equal(members[3].name, "");
  });

  it("fails on output it does not understand", () => {
    assert.throws(
      () => parseEtcdMemberList("Error: context deadline exceeded"),
      /cannot read this line/,
    );
  });
});

describe("planEtcdJoin", () => {
  const self4 = { name: "host-4", peerUrl: "https://10.0.0.4:2380" };

  it("bootstraps with every bootstrap member when nothing answers", () => {
    assert.deepEqual(
      planEtcdJoin({
        self: PEERS[0],
        bootstrapPeers: PEERS,
        members: undefined,
        hasLocalData: false,
      }),
      {
        action: "bootstrap",
        initialClusterState: "new",
        initialCluster: renderInitialCluster(PEERS),
      },
    );
  });

  it("refuses to bootstrap a member added later when the cluster does not answer", () => {
    assert.throws(
      () =>
        planEtcdJoin({
          self: self4,
          bootstrapPeers: PEERS,
          members: undefined,
          hasLocalData: false,
        }),
      /host-4 is new, but no existing member answered/,
    );
  });

  it("adds a new member with the members plus itself as its initial cluster", () => {
    const plan = planEtcdJoin({
      self: self4,
      bootstrapPeers: PEERS,
      members: parseEtcdMemberList(LIST_FORMED),
      hasLocalData: false,
    });
    assert.equal(plan.action, "add");
    assert.equal(plan.initialClusterState, "existing");
    assert.equal(
      plan.initialCluster,
      "host-3=https://10.0.0.3:2380,host-1=https://10.0.0.1:2380,host-2=https://10.0.0.2:2380,host-4=https://10.0.0.4:2380",
    );
  });

  it("starts a bootstrap member the others formed the cluster without", () => {
    const plan = planEtcdJoin({
      self: PEERS[2],
      bootstrapPeers: PEERS,
      members: parseEtcdMemberList(LIST_BOOTSTRAPPING),
      hasLocalData: false,
    });
    assert.equal(plan.action, "start-listed");
    assert.equal(plan.initialClusterState, "existing");
  });

  it("keeps a member that has run before and still has its data as it is", () => {
    const plan = planEtcdJoin({
      self: PEERS[2],
      bootstrapPeers: PEERS,
      members: parseEtcdMemberList(LIST_FORMED),
      hasLocalData: true,
    });
    assert.equal(plan.action, "already-member");
  });

  it("replaces a member that has run before when its host lost the data (a recreated host)", () => {
    const members = parseEtcdMemberList(LIST_FORMED);
    const stale = members.find((member) => member.name === "host-3");
    const plan = planEtcdJoin({
      self: PEERS[2],
      bootstrapPeers: PEERS,
      members,
      hasLocalData: false,
    });
    assert.deepEqual(plan, {
      action: "replace-stale",
      stale,
      initialClusterState: "existing",
      initialCluster: renderInitialCluster(PEERS),
    });
  });

  it("refuses a peer URL that belongs to another member, and a pending unstarted member", () => {
    assert.throws(
      () =>
        planEtcdJoin({
          self: { name: "host-9", peerUrl: "https://10.0.0.3:2380" },
          bootstrapPeers: PEERS,
          members: parseEtcdMemberList(LIST_FORMED),
          hasLocalData: false,
        }),
      /belongs to member host-3/,
    );
    assert.throws(
      () =>
        planEtcdJoin({
          self: { name: "host-5", peerUrl: "https://10.0.0.5:2380" },
          bootstrapPeers: PEERS,
          members: parseEtcdMemberList(
            `${LIST_FORMED}8e9e05c52164694d, unstarted, , https://10.0.0.4:2380, , false\n`,
          ),
          hasLocalData: false,
        }),
      /8e9e05c52164694d .* was added but never started/,
    );
  });
});

describe("quorum", () => {
  it("allows a removal only when the healthy members left are a quorum", () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(etcdQuorum), [1, 2, 2, 3, 3]);
    checkRemovalKeepsQuorum({ member: "host-4", clusterSize: 4, healthyOthers: 3 });
    checkRemovalKeepsQuorum({ member: "host-3", clusterSize: 3, healthyOthers: 2 });
    checkRemovalKeepsQuorum({ member: "host-1", clusterSize: 1, healthyOthers: 0 });
    assert.throws(
      () => checkRemovalKeepsQuorum({ member: "host-3", clusterSize: 3, healthyOthers: 1 }),
      /removing etcd member host-3 would leave 2 member\(s\) of which only 1 are healthy/,
    );
  });
});

describe("install plan", () => {
  it("installs the distribution's packages by default", () => {
    assert.deepEqual(renderEtcdInstallEnv(DEFAULT_ETCD_CONFIG), { ETCD_SOURCE: "distro" });
  });

  it("downloads the release tarball from the configured mirror, with the stack's checksums", () => {
    const [amd64, arm64] = ["a1".repeat(32), "b2".repeat(32)];
    const config = resolveEtcdConfig({
      source: "tarball",
      version: "3.5.17",
      downloadUrl: "https://mirrors.example.com/etcd/",
      sha256: { amd64, arm64 },
    });
    assert.deepEqual(renderEtcdInstallEnv(config), {
      ETCD_SOURCE: "tarball",
      ETCD_VERSION: "3.5.17",
      ETCD_DOWNLOAD_URL: "https://mirrors.example.com/etcd",
      ETCD_SHA256_AMD64: amd64,
      ETCD_SHA256_ARM64: arm64,
    });
    assert.throws(
      () => resolveEtcdConfig({ source: "tarball", version: "3.5.17" }),
      /dockfleet:etcd\.sha256 = \(missing\): is required for etcd\.version "3\.5\.17"/,
    );
    assert.equal(
      renderEtcdTarballUrl(config.downloadUrl, config.version, "amd64"),
      "https://mirrors.example.com/etcd/v3.5.17/etcd-v3.5.17-linux-amd64.tar.gz",
    );
    assert.equal(
      renderEtcdTarballUrl(DEFAULT_ETCD_CONFIG.downloadUrl, "3.5.17", "arm64"),
      "https://github.com/etcd-io/etcd/releases/download/v3.5.17/etcd-v3.5.17-linux-arm64.tar.gz",
    );
  });
});

describe("Docker cluster store", () => {
  const args = {
    host: "host-2",
    endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
    advertise: "10.0.0.2:2376",
  };

  it("renders cluster-store, cluster-advertise and the TLS files for Docker 20.10", () => {
    assert.deepEqual(
      renderDockerClusterStoreOptions({ ...args, engineVersion: "20.10.24+dfsg1" }),
      {
        "cluster-store": "etcd://10.0.0.1:2379,10.0.0.2:2379",
        "cluster-advertise": "10.0.0.2:2376",
        "cluster-store-opts": {
          "kv.cacertfile": "/etc/docker/etcd/ca.pem",
          "kv.certfile": "/etc/docker/etcd/client.pem",
          "kv.keyfile": "/etc/docker/etcd/client-key.pem",
        },
      },
    );
  });

  it("refuses Docker 23 and later, naming the host and the version", () => {
    assert.throws(
      () => renderDockerClusterStoreOptions({ ...args, engineVersion: "24.0.7" }),
      /host-2: etcd's dockerClusterStore needs a Docker engine older than 23, but 24.0.7 is installed/,
    );
    assert.equal(dockerMajorVersion("23.0.0"), 23);
    assert.throws(() => dockerMajorVersion("unknown"), /cannot read the Docker engine version/);
  });
});

describe("etcdctl", () => {
  it("renders a quoted v3 command with TLS and short timeouts", () => {
    assert.equal(
      renderEtcdctlCommand({
        etcdctlPath: "/usr/bin/etcdctl",
        tls: { caPath: "/ca.pem", certPath: "/c.pem", keyPath: "/k.pem" },
        endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
        command: ["member", "add", "host-4", "--peer-urls=https://10.0.0.4:2380"],
      }),
      "ETCDCTL_API=3 '/usr/bin/etcdctl' '--endpoints=https://10.0.0.1:2379,https://10.0.0.2:2379' " +
        "'--cacert=/ca.pem' '--cert=/c.pem' '--key=/k.pem' '--dial-timeout=3s' '--command-timeout=5s' " +
        "'member' 'add' 'host-4' '--peer-urls=https://10.0.0.4:2380'",
    );
  });

  it("reads the healthy endpoints from endpoint health", () => {
    const output = `https://10.0.0.1:2379 is healthy: successfully committed proposal: took = 2.5ms
https://10.0.0.2:2379 is unhealthy: failed to commit proposal: context deadline exceeded
Error: unhealthy cluster`;
    assert.deepEqual(parseHealthyEndpoints(output), ["https://10.0.0.1:2379"]);
  });
});

describe("etcd config", () => {
  it("has a default for every key", () => {
    assert.deepEqual(DEFAULT_ETCD_CONFIG, {
      enabled: false,
      members: 3,
      source: "distro",
      version: "3.5.17",
      downloadUrl: "https://github.com/etcd-io/etcd/releases/download",
      clientPort: 2379,
      peerPort: 2380,
      dataDir: "/var/lib/etcd/dockfleet",
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      extraFlags: {},
      healthTimeoutSeconds: 180,
      dockerClusterStore: false,
      removeOnDestroy: false,
    });
  });

  it("names the key and value of every problem", () => {
    assert.throws(
      () => resolveEtcdConfig({ members: 0, source: "git" as "distro" }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.deepEqual(error.problems, [
          "dockfleet:etcd.members = 0: must be at least 1",
          'dockfleet:etcd.source = "git": must be one of "distro", "tarball"',
        ]);
        return true;
      },
    );
    // Checks across keys run once every key is valid on its own.
    assert.throws(
      () => resolveEtcdConfig({ electionTimeoutMs: 200, extraFlags: { "initial-cluster": "x" } }),
      (error: Error) => {
        assert.match(
          error.message,
          /dockfleet:etcd\.electionTimeoutMs = 200: must be at least 5 × heartbeatIntervalMs \(500\)/,
        );
        assert.match(
          error.message,
          /dockfleet:etcd\.extraFlags\.initial-cluster = "x": is set by dockfleet/,
        );
        return true;
      },
    );
  });
});
