import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
  MOCK_PRIVATE_KEY,
  MOCK_PUBLIC_KEY,
  calls,
  deployEnvironment,
  dynamicType,
  installMocks,
  readStackFile,
  recorded,
  resourcesOf,
  resourcesWithPlainText,
  secretInput,
  stackConfig,
  valueOf,
} from "./fixtures/pulumi-mocks";

installMocks("aliyuntest");

type EnvironmentModule = typeof import("../../components/stack/environment");
type ConfigModule = typeof import("../../components/stack/config");
let resolveStackConfig: ConfigModule["resolveStackConfig"];
let renderInstallEnv: typeof import("../../components/engine/docker-engine").renderInstallEnv;

const RULE = "alicloud:ecs/securityGroupRule:SecurityGroupRule";

describe("aliyun driver (Pulumi mocks)", () => {
  let environment: InstanceType<EnvironmentModule["Environment"]>;
  before(async () => {
    ({ resolveStackConfig } = await import("../../components/stack/config"));
    ({ renderInstallEnv } = await import("../../components/engine/docker-engine"));
    environment = await deployEnvironment("ali", {
      driver: "aliyun",
      hosts: 3,
      aliyun: {
        region: "cn-hangzhou",
        adminCidrs: ["203.0.113.0/24"],
        tags: { owner: "ops" },
      },
    });
  });

  it("uses an explicit provider for the region and puts the VSwitch in an offering zone", () => {
    const [provider] = resourcesOf("pulumi:providers:alicloud", "ali");
    assert.equal(provider.inputs.region, "cn-hangzhou");
    const zones = calls.find((call) => call.token === "alicloud:index/getZones:getZones");
    assert.equal(zones?.inputs.availableInstanceType, "ecs.t6-c1m2.large");
    const [vswitch] = resourcesOf("alicloud:vpc/switch:Switch", "ali");
    assert.equal(vswitch.inputs.zoneId, "cn-hangzhou-h");
    assert.equal(vswitch.inputs.cidrBlock, "10.80.1.0/24");
    assert.equal(
      resourcesOf("alicloud:vpc/network:Network", "ali")[0].inputs.cidrBlock,
      "10.80.0.0/16",
    );
  });

  it("makes a security group that drops traffic between members except on the rules", () => {
    const [group] = resourcesOf("alicloud:ecs/securityGroup:SecurityGroup", "ali");
    assert.equal(group.inputs.innerAccessPolicy, "Drop");
    const rules = resourcesOf(RULE, "ali").map(({ inputs }) => {
      assert.equal(inputs.securityGroupId, `${group.name}-id`);
      assert.equal(inputs.type, "ingress");
      assert.equal(inputs.policy, "accept");
      assert.equal(inputs.nicType, "intranet");
      const source = inputs.sourceSecurityGroupId === `${group.name}-id` ? "group" : inputs.cidrIp;
      return `${String(inputs.ipProtocol)} ${String(inputs.portRange)} ${String(source)}`;
    });
    assert.deepEqual(rules.sort(), [
      "tcp 22/22 203.0.113.0/24",
      "tcp 2376/2376 203.0.113.0/24",
      "tcp 2377/2377 group",
      "tcp 2379/2380 group",
      "tcp 5000/5000 group",
      "tcp 7946/7946 group",
      "udp 4789/4789 group",
      "udp 7946/7946 group",
    ]);
    const open = resourcesOf(RULE, "ali").filter(({ inputs }) => inputs.cidrIp === "0.0.0.0/0");
    assert.deepEqual(open, []);
  });

  it("makes three ECS instances of the type, from the Debian 12 image filter, tagged, without a password", () => {
    const images = calls.find((call) => call.token === "alicloud:ecs/getImages:getImages");
    assert.equal(images?.inputs.owners, "system");
    assert.equal(images?.inputs.mostRecent, true);
    assert.equal(images?.inputs.nameRegex, "^debian_12_\\d+_x64_20G_alibase_\\d+\\.vhd$");
    assert.match(
      "debian_12_6_x64_20G_alibase_20240819.vhd",
      new RegExp(String(images?.inputs.nameRegex)),
    );
    const instances = resourcesOf("alicloud:ecs/instance:Instance", "ali");
    assert.equal(instances.length, 3);
    instances.forEach(({ inputs }, index) => {
      const host = `host-${index + 1}`;
      assert.equal(inputs.instanceType, "ecs.t6-c1m2.large");
      assert.equal(inputs.imageId, "debian_12_6_x64_20G_alibase_20240819.vhd");
      assert.equal(inputs.keyName, "ali-dockfleet");
      assert.equal(inputs.systemDiskCategory, "cloud_essd");
      assert.equal(inputs.systemDiskSize, 40);
      assert.equal(inputs.systemDiskEncrypted, true);
      assert.equal(inputs.internetMaxBandwidthOut, 10);
      assert.equal(inputs.httpTokens, "required");
      assert.equal(inputs.password, undefined);
      assert.equal(inputs.kmsEncryptedPassword, undefined);
      assert.deepEqual(inputs.tags, {
        owner: "ops",
        "dockfleet.io/stack": "ali",
        "dockfleet.io/host": host,
      });
      const userData = Buffer.from(String(inputs.userData), "base64").toString("utf8");
      assert.match(userData, /^#cloud-config\n/);
      assert.match(userData, /https:\/\/mirrors\.aliyun\.com\//);
      assert.match(userData, /"ssh_pwauth": false/);
    });
  });

  it("China defaults: docker-ce from Aliyun's mirror, unless the stack says otherwise", () => {
    const config = resolveStackConfig(
      stackConfig({
        driver: "aliyun",
        aliyun: { region: "cn-beijing", adminCidrs: ["10.1.0.0/16"] },
      }),
    );
    assert.equal(
      renderInstallEnv(config.engine).DOCKER_CE_MIRROR,
      "https://mirrors.aliyun.com/docker-ce",
    );
    const distro = resolveStackConfig(
      stackConfig({
        driver: "aliyun",
        engine: { source: "distro" },
        aliyun: { region: "cn-beijing", adminCidrs: ["10.1.0.0/16"], osMirror: "none" },
      }),
    );
    assert.equal(distro.engine.source, "distro");
    assert.equal(distro.aliyun?.osMirror, "none");
  });

  it("gives the key pair the public key only; the private key travels as a secret", async () => {
    const [keyPair] = resourcesOf("alicloud:ecs/ecsKeyPair:EcsKeyPair", "ali");
    assert.equal(keyPair.inputs.publicKey, MOCK_PUBLIC_KEY);
    assert.deepEqual(resourcesWithPlainText("PRIVATE KEY"), []);
    for (const resource of resourcesOf(dynamicType("SshHost"), "ali")) {
      assert.equal(
        secretInput<{ privateKey: string }>(resource.inputs.connection).privateKey,
        MOCK_PRIVATE_KEY,
      );
    }
    assert.equal(await pulumi.isSecret(environment.sshPrivateKey), true);
    for (const machine of environment.machines) {
      assert.equal(await pulumi.isSecret(machine.ssh), true);
    }
  });

  it("hands every host to DockerEngine with its private address", async () => {
    assert.equal(environment.engines.length, 3);
    for (const engine of environment.engines) {
      const { machine } = engine;
      assert.equal(machine.driver, "aliyun");
      const privateAddress = await valueOf(machine.privateAddress);
      const publicAddress = await valueOf(machine.publicAddress);
      assert.match(privateAddress, /^10\.0\.1\.\d+$/);
      assert.notEqual(privateAddress, publicAddress);
      const [certificate] = resourcesOf(
        dynamicType("Certificate"),
        `ali-${machine.name}-engine-server-cert`,
      );
      assert.ok((certificate.inputs.ipAddresses as string[]).includes(privateAddress));
      const ssh = await valueOf(machine.ssh);
      assert.equal(ssh.host, publicAddress);
      assert.equal(ssh.user, "root");
    }
    const privateAddresses = await Promise.all(
      environment.machines.map((machine) => valueOf(machine.privateAddress)),
    );
    assert.equal(new Set(privateAddresses).size, 3);
    assert.ok(recorded.length > 0);
  });

  it("accepts the example stack stacks/Pulumi.aliyun.yaml", async () => {
    const { resolveStackConfig: resolve } = await import("../../components/stack/config");
    const config = resolve(readStackFile(`${__dirname}/../../stacks/Pulumi.aliyun.yaml`));
    assert.equal(config.driver, "aliyun");
    assert.equal(config.engine.mirrorUrl, "aliyun");
  });

  it("opens the configured ports, not the defaults (etcd ports next to each other: one rule)", async () => {
    await deployEnvironment("aliports", {
      driver: "aliyun",
      hosts: 1,
      aliyun: { region: "cn-hangzhou", adminCidrs: ["203.0.113.0/24"] },
      engine: { tlsPort: 12376 },
      swarm: { port: 12377 },
      etcd: { clientPort: 12379, peerPort: 12380 },
      registry: { port: 15000 },
    });
    const rules = resourcesOf(RULE, "aliports").map(
      ({ name, inputs }) =>
        `${name.replace("aliports-machines-in-", "")} ${String(inputs.ipProtocol)} ${String(inputs.portRange)}`,
    );
    assert.deepEqual(rules.sort(), [
      "docker-api-from-203-0-113-0-24 tcp 12376/12376",
      "etcd tcp 12379/12380",
      "registry tcp 15000/15000",
      "ssh-from-203-0-113-0-24 tcp 22/22",
      "swarm-gossip-tcp tcp 7946/7946",
      "swarm-gossip-udp udp 7946/7946",
      "swarm-manager tcp 12377/12377",
      "swarm-overlay udp 4789/4789",
    ]);
  });
});
