import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dockerCeBaseUrl } from "../../components/engine/config";
import { resolveStackConfig } from "../../components/stack/config";
import { ConfigError } from "../../provision/config/errors";
import { planLocalHosts } from "../../components/machines/local/run-args";

function problemsOf(config: Record<string, unknown>): string[] {
  const raw = Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key,
      typeof value === "string" ? value : JSON.stringify(value),
    ]),
  );
  try {
    resolveStackConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail("the config was accepted");
}

describe("stack config", () => {
  it("applies every default to an empty stack", () => {
    const config = resolveStackConfig({});
    assert.equal(config.driver, "local");
    assert.equal(config.hosts, 3);
    assert.equal(config.local.subnet, "172.30.10.0/24");
    assert.equal(config.engine.source, "distro");
    assert.equal(config.engine.logMaxSize, "10m");
    assert.equal(config.engine.tlsPort, 2376);
    assert.deepEqual(config.engine.registryMirrors, []);
  });

  it("reads scalar and structured values as the CLI stores them, ignoring other namespaces", () => {
    const config = resolveStackConfig({
      "dockfleet:hosts": "1",
      "dockfleet:engine": JSON.stringify({ registryMirrors: ["https://m.example.com"] }),
      "aws:region": "eu-west-1",
    });
    assert.equal(config.hosts, 1);
    assert.deepEqual(config.engine.registryMirrors, ["https://m.example.com"]);
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ["unknown key", { "dockfleet:colour": "red" }, "dockfleet:colour: unknown key"],
    ["host count below 1", { "dockfleet:hosts": 0 }, "dockfleet:hosts = 0: must be at least 1"],
    [
      "unknown driver",
      { "dockfleet:driver": "vagrant" },
      'dockfleet:driver = "vagrant": must be one of "local", "ssh"',
    ],
    [
      "unknown package source",
      { "dockfleet:engine": { source: "apt" } },
      'dockfleet:engine.source = "apt": must be one of "distro", "docker-ce", "mirror"',
    ],
    [
      "bad mirror URL",
      { "dockfleet:engine": { registryMirrors: ["ftp://mirror"] } },
      'dockfleet:engine.registryMirrors[0] = "ftp://mirror": must be an http(s) URL',
    ],
    [
      "mirror source without a URL",
      { "dockfleet:engine": { source: "mirror" } },
      'dockfleet:engine.mirrorUrl = (missing): is required when engine.source is "mirror"',
    ],
    [
      "bad subnet",
      { "dockfleet:local": { subnet: "10.0.0.0/33" } },
      'dockfleet:local.subnet = "10.0.0.0/33": must be an IPv4 CIDR',
    ],
    [
      "insecure registry with a scheme",
      { "dockfleet:engine": { insecureRegistries: ["http://10.0.0.5:5000"] } },
      'dockfleet:engine.insecureRegistries[0] = "http://10.0.0.5:5000": must be host[:port]',
    ],
    [
      "a daemon option dockfleet manages",
      { "dockfleet:engine": { daemonOptions: { hosts: ["tcp://0.0.0.0:2375"] } } },
      'dockfleet:engine.daemonOptions.hosts = ["tcp://0.0.0.0:2375"]: is set by dockfleet',
    ],
    [
      "ssh driver without hosts",
      { "dockfleet:driver": "ssh" },
      "dockfleet:sshHosts = (missing): must list at least one host",
    ],
    [
      "duplicate ssh host names",
      {
        "dockfleet:driver": "ssh",
        "dockfleet:sshHosts": [
          { name: "web", address: "10.0.0.1" },
          { name: "web", address: "10.0.0.2" },
        ],
      },
      'dockfleet:sshHosts[1].name = "web": is used by another host',
    ],
    [
      "aws driver without its settings",
      { "dockfleet:driver": "aws" },
      'dockfleet:aws = (missing): is required when driver is "aws"',
    ],
    [
      "aws region in an unknown format",
      {
        "dockfleet:driver": "aws",
        "dockfleet:aws": { region: "Frankfurt", adminCidrs: ["203.0.113.7/32"] },
      },
      'dockfleet:aws.region = "Frankfurt": must be an AWS region code, e.g. "eu-west-1"',
    ],
    [
      "aws admin CIDR that is not a CIDR",
      {
        "dockfleet:driver": "aws",
        "dockfleet:aws": { region: "eu-west-1", adminCidrs: ["my-office"] },
      },
      'dockfleet:aws.adminCidrs[0] = "my-office": must be an IPv4 CIDR of the addresses you administer from',
    ],
    [
      "aws admin CIDR of the whole internet",
      {
        "dockfleet:driver": "aws",
        "dockfleet:aws": { region: "eu-west-1", adminCidrs: ["0.0.0.0/0"] },
      },
      'dockfleet:aws.adminCidrs[0] = "0.0.0.0/0": opens SSH and the Docker API to the whole internet',
    ],
    [
      "aws without admin CIDRs",
      { "dockfleet:driver": "aws", "dockfleet:aws": { region: "eu-west-1" } },
      "dockfleet:aws.adminCidrs = (missing):",
    ],
    [
      "aws instance count 0",
      {
        "dockfleet:driver": "aws",
        "dockfleet:hosts": 0,
        "dockfleet:aws": { region: "eu-west-1", adminCidrs: ["203.0.113.7/32"] },
      },
      "dockfleet:hosts = 0: must be at least 1",
    ],
    [
      "aws subnet id without a VPC id",
      {
        "dockfleet:driver": "aws",
        "dockfleet:aws": {
          region: "eu-west-1",
          adminCidrs: ["203.0.113.7/32"],
          subnetId: "subnet-0123456789abcdef0",
        },
      },
      "dockfleet:aws.vpcId = (missing): is required with the other",
    ],
    [
      "aws own public key without its private half",
      {
        "dockfleet:driver": "aws",
        "dockfleet:aws": {
          region: "eu-west-1",
          adminCidrs: ["203.0.113.7/32"],
          publicKey: "ssh-ed25519 AAAAC3Nz me",
        },
      },
      "dockfleet:sshPrivateKey = (missing): is required when aws.publicKey is set",
    ],
    [
      "aliyun region in an unknown format",
      {
        "dockfleet:driver": "aliyun",
        "dockfleet:aliyun": { region: "Hangzhou", adminCidrs: ["203.0.113.7/32"] },
      },
      'dockfleet:aliyun.region = "Hangzhou": must be an Alibaba Cloud region id, e.g. "cn-hangzhou"',
    ],
    [
      "aliyun admin CIDR that is not a CIDR",
      {
        "dockfleet:driver": "aliyun",
        "dockfleet:aliyun": { region: "cn-hangzhou", adminCidrs: ["10.0.0.300/32"] },
      },
      'dockfleet:aliyun.adminCidrs[0] = "10.0.0.300/32": must be an IPv4 CIDR',
    ],
    [
      "aliyun public connection without public bandwidth",
      {
        "dockfleet:driver": "aliyun",
        "dockfleet:aliyun": {
          region: "cn-hangzhou",
          adminCidrs: ["203.0.113.7/32"],
          internetMaxBandwidthOut: 0,
        },
      },
      'dockfleet:aliyun.internetMaxBandwidthOut = 0: must be at least 1 when connectVia is "public"',
    ],
    [
      "aliyun instance count 0",
      {
        "dockfleet:driver": "aliyun",
        "dockfleet:hosts": 0,
        "dockfleet:aliyun": { region: "cn-hangzhou", adminCidrs: ["203.0.113.7/32"] },
      },
      "dockfleet:hosts = 0: must be at least 1",
    ],
    [
      "virtualbox host-only range outside 192.168.56.0/21",
      {
        "dockfleet:driver": "virtualbox",
        "dockfleet:virtualbox": { image: "d.ova", hostOnlyCidr: "192.168.99.0/24" },
      },
      'dockfleet:virtualbox.hostOnlyCidr = "192.168.99.0/24": must be an IPv4 CIDR inside 192.168.56.0/21',
    ],
    [
      "virtualbox host-only range too small for the VMs",
      {
        "dockfleet:driver": "virtualbox",
        "dockfleet:hosts": 6,
        "dockfleet:virtualbox": { image: "d.ova", hostOnlyCidr: "192.168.57.0/28" },
      },
      'dockfleet:virtualbox.hostOnlyCidr = "192.168.57.0/28": holds 5 VMs from .10 on, not 6',
    ],
    [
      "virtualbox image that is not an .ova or .ovf",
      { "dockfleet:driver": "virtualbox", "dockfleet:virtualbox": { image: "debian.qcow2" } },
      'dockfleet:virtualbox.image = "debian.qcow2": must be the path of an .ova or .ovf file',
    ],
    [
      "virtualbox instance count 0",
      {
        "dockfleet:driver": "virtualbox",
        "dockfleet:hosts": 0,
        "dockfleet:virtualbox": { image: "d.ova" },
      },
      "dockfleet:hosts = 0: must be at least 1",
    ],
  ];
  for (const [what, config, expected] of cases) {
    it(`refuses ${what}, naming the key, the value and what is allowed`, () => {
      const problems = problemsOf(config);
      assert.ok(
        problems.some((problem) => problem.startsWith(expected)),
        `expected a problem starting with ${JSON.stringify(expected)}, got ${JSON.stringify(problems)}`,
      );
    });
  }

  it("never quotes a secret value back", () => {
    const problems = problemsOf({ "dockfleet:sshPrivateKey": "hunter2-not-a-key" });
    assert.deepEqual(problems, [
      "dockfleet:sshPrivateKey = [secret]: must be a PEM or OpenSSH private key",
    ]);
  });

  it("maps package sources to docker-ce base URLs", () => {
    const engine = (value: object) =>
      resolveStackConfig({ "dockfleet:engine": JSON.stringify(value) }).engine;
    assert.equal(dockerCeBaseUrl(engine({})), undefined);
    assert.equal(dockerCeBaseUrl(engine({ source: "docker-ce" })), "https://download.docker.com");
    assert.equal(
      dockerCeBaseUrl(engine({ source: "mirror", mirrorUrl: "aliyun" })),
      "https://mirrors.aliyun.com/docker-ce",
    );
    assert.equal(
      dockerCeBaseUrl(
        engine({
          source: "mirror",
          mirrorUrl: "http://10.1.1.1/docker-ce",
          allowInsecureHttpMirror: true,
        }),
      ),
      "http://10.1.1.1/docker-ce",
    );
  });
});

describe("planLocalHosts", () => {
  it("names hosts and gives fixed addresses from .10", () => {
    assert.deepEqual(planLocalHosts({ count: 3, namePrefix: "node", subnet: "172.30.10.0/24" }), [
      { name: "node-1", ipv4Address: "172.30.10.10" },
      { name: "node-2", ipv4Address: "172.30.10.11" },
      { name: "node-3", ipv4Address: "172.30.10.12" },
    ]);
  });

  it("refuses more hosts than the subnet holds", () => {
    assert.throws(
      () => planLocalHosts({ count: 10, namePrefix: "h", subnet: "10.9.0.0/28" }),
      /subnet 10.9.0.0\/28 holds 4 hosts from .10 on, not 10/,
    );
  });
});
