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
  resourcesOf,
  resourcesWithPlainText,
  secretInput,
  valueOf,
} from "./fixtures/pulumi-mocks";

installMocks("awstest");

type EnvironmentModule = typeof import("../../components/stack/environment");

/** Two aws hosts with these aws settings (and other `dockfleet:` keys), built under the mocks. */
function deploy(name: string, aws: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return deployEnvironment(name, { driver: "aws", hosts: 2, aws, ...extra });
}

/** [protocol, from, to, source] per ingress rule, "group" for self-references. */
function ingressRules(prefix: string, groupId: string): string[] {
  return resourcesOf("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", prefix)
    .map(({ inputs }) => {
      assert.equal(inputs.securityGroupId, groupId);
      const source =
        inputs.referencedSecurityGroupId === groupId ? "group" : String(inputs.cidrIpv4);
      return `${String(inputs.ipProtocol)} ${String(inputs.fromPort)}-${String(inputs.toPort)} ${source}`;
    })
    .sort();
}

describe("aws driver (Pulumi mocks)", () => {
  describe("defaults: a new VPC, Debian 12, two hosts", () => {
    let environment: InstanceType<EnvironmentModule["Environment"]>;
    before(async () => {
      environment = await deploy("aws1", {
        region: "eu-west-1",
        adminCidrs: ["203.0.113.7/32"],
        tags: { team: "platform" },
      });
    });

    it("uses an explicit provider for the configured region", () => {
      const [provider] = resourcesOf("pulumi:providers:aws", "aws1");
      assert.equal(provider.inputs.region, "eu-west-1");
      for (const instance of resourcesOf("aws:ec2/instance:Instance", "aws1")) {
        assert.match(instance.provider ?? "", /pulumi:providers:aws::aws1-machines-provider::/);
      }
    });

    it("opens exactly SSH and the Docker API to the admin CIDR and cluster ports to members", () => {
      const [group] = resourcesOf("aws:ec2/securityGroup:SecurityGroup", "aws1");
      assert.deepEqual(ingressRules("aws1", `${group.name}-id`), [
        "tcp 22-22 203.0.113.7/32",
        "tcp 2376-2376 203.0.113.7/32",
        "tcp 2377-2377 group",
        "tcp 2379-2380 group",
        "tcp 5000-5000 group",
        "tcp 7946-7946 group",
        "udp 4789-4789 group",
        "udp 7946-7946 group",
      ]);
      const egress = resourcesOf("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "aws1");
      assert.deepEqual(
        egress.map(({ inputs }) => [inputs.ipProtocol, inputs.cidrIpv4]),
        [["-1", "0.0.0.0/0"]],
      );
    });

    it("opens nothing to 0.0.0.0/0 on 2376, 2377, 2379 or 5000 (nor on any port)", () => {
      const open = resourcesOf(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws1",
      ).filter(({ inputs }) => inputs.cidrIpv4 === "0.0.0.0/0" || inputs.cidrIpv6 === "::/0");
      assert.deepEqual(open, []);
    });

    it("creates a VPC with one public subnet, a gateway and a default route", () => {
      assert.equal(resourcesOf("aws:ec2/vpc:Vpc", "aws1")[0].inputs.cidrBlock, "10.70.0.0/16");
      assert.equal(
        resourcesOf("aws:ec2/subnet:Subnet", "aws1")[0].inputs.cidrBlock,
        "10.70.1.0/24",
      );
      assert.equal(resourcesOf("aws:ec2/internetGateway:InternetGateway", "aws1").length, 1);
      const [routes] = resourcesOf("aws:ec2/routeTable:RouteTable", "aws1");
      assert.deepEqual(routes.inputs.routes, [
        { cidrBlock: "0.0.0.0/0", gatewayId: "aws1-machines-igw-id" },
      ]);
    });

    it("makes two instances of the type, from the Debian 12 AMI filter, hardened and tagged", () => {
      const instances = resourcesOf("aws:ec2/instance:Instance", "aws1");
      assert.equal(instances.length, 2);
      const amiCall = calls.find((call) => call.token === "aws:ec2/getAmi:getAmi");
      assert.deepEqual(amiCall?.inputs.owners, ["136693071363"]);
      assert.equal(amiCall?.inputs.mostRecent, true);
      assert.deepEqual(amiCall?.inputs.filters, [
        { name: "name", values: ["debian-12-amd64-*"] },
        { name: "architecture", values: ["x86_64"] },
        { name: "virtualization-type", values: ["hvm"] },
        { name: "root-device-type", values: ["ebs"] },
      ]);
      instances.forEach(({ inputs }, index) => {
        const host = `host-${index + 1}`;
        assert.equal(inputs.instanceType, "t3.small");
        assert.equal(inputs.ami, "ami-0mockdebian12");
        assert.equal(inputs.keyName, "aws1-machines-key-generated");
        assert.deepEqual(inputs.vpcSecurityGroupIds, ["aws1-machines-sg-id"]);
        assert.deepEqual(inputs.metadataOptions, {
          httpEndpoint: "enabled",
          httpTokens: "required",
          httpPutResponseHopLimit: 1,
        });
        assert.deepEqual(inputs.rootBlockDevice, {
          volumeSize: 20,
          volumeType: "gp3",
          encrypted: true,
          deleteOnTermination: true,
        });
        assert.deepEqual(inputs.tags, {
          team: "platform",
          Name: `aws1-${host}`,
          "dockfleet.io/stack": "aws1",
          "dockfleet.io/host": host,
        });
        assert.match(String(inputs.userData), /"disable_root": false/);
      });
      assert.equal(resourcesOf("aws:ec2/eip:Eip", "aws1").length, 0);
    });

    it("gives the key pair the environment's public key and no resource the private key in plain text", () => {
      const [keyPair] = resourcesOf("aws:ec2/keyPair:KeyPair", "aws1");
      assert.equal(keyPair.inputs.publicKey, MOCK_PUBLIC_KEY);
      assert.deepEqual(resourcesWithPlainText("PRIVATE KEY"), []);
      // Where it is needed (SSH steps), it travels as a secret.
      for (const kind of ["SshHost", "DockerInstall"]) {
        for (const resource of resourcesOf(dynamicType(kind), "aws1")) {
          const connection = secretInput<{ privateKey: string }>(resource.inputs.connection);
          assert.equal(connection.privateKey, MOCK_PRIVATE_KEY);
        }
      }
    });

    it("keeps the private key secret: the SSH connection of every host and the stack's key", async () => {
      assert.equal(await pulumi.isSecret(environment.sshPrivateKey), true);
      assert.equal(await valueOf(environment.sshPrivateKey), MOCK_PRIVATE_KEY);
      for (const machine of environment.machines) {
        assert.equal(await pulumi.isSecret(machine.ssh), true);
      }
    });

    it("hands every host to DockerEngine with its private address, reached over SSH as root", async () => {
      const instances = resourcesOf("aws:ec2/instance:Instance", "aws1");
      assert.equal(environment.engines.length, 2);
      for (const [index, engine] of environment.engines.entries()) {
        const machine = engine.machine;
        assert.equal(machine.driver, "aws");
        assert.equal(machine.name, `host-${index + 1}`);
        const privateAddress = await valueOf(machine.privateAddress);
        const publicAddress = await valueOf(machine.publicAddress);
        assert.match(privateAddress, /^10\.0\.1\.\d+$/);
        assert.match(publicAddress, /^198\.51\.100\.\d+$/);
        assert.ok(instances.some((instance) => instance.name === `aws1-machines-${machine.name}`));
        const ssh = await valueOf(machine.ssh);
        assert.deepEqual(
          { host: ssh.host, port: ssh.port, user: ssh.user },
          { host: publicAddress, port: 22, user: "root" },
        );
        assert.match(ssh.hostKey, /^ssh-ed25519 /);
        // The engine's server certificate names the private address: swarm and etcd use it.
        const [certificate] = resourcesOf(
          dynamicType("Certificate"),
          `aws1-${machine.name}-engine-server-cert`,
        );
        assert.ok((certificate.inputs.ipAddresses as string[]).includes(privateAddress));
        const [install] = resourcesOf(
          dynamicType("DockerInstall"),
          `aws1-${machine.name}-engine-install`,
        );
        assert.equal(secretInput<{ host: string }>(install.inputs.connection).host, publicAddress);
        assert.equal(await valueOf(engine.dockerHost), `tcp://${publicAddress}:2376`);
      }
    });

    it("pins each host's key on first contact through SshHost, after the SSH rule exists", () => {
      const sshHosts = resourcesOf(dynamicType("SshHost"), "aws1-machines-host-");
      assert.equal(sshHosts.length, 2);
      for (const { inputs } of sshHosts) {
        const connection = secretInput<{ hostKey?: string; user: string }>(inputs.connection);
        assert.equal(connection.hostKey, undefined);
        assert.equal(connection.user, "root");
      }
    });
  });

  describe("configured service ports", () => {
    before(async () => {
      await deploy(
        "aws3",
        { region: "eu-west-1", adminCidrs: ["203.0.113.7/32"] },
        {
          engine: { tlsPort: 12376 },
          swarm: { port: 12377 },
          etcd: { clientPort: 12379, peerPort: 12390 },
          registry: { port: 15000 },
        },
      );
    });

    it("opens the configured Docker API, swarm, etcd and registry ports, not the defaults", () => {
      const [group] = resourcesOf("aws:ec2/securityGroup:SecurityGroup", "aws3");
      assert.deepEqual(ingressRules("aws3", `${group.name}-id`), [
        "tcp 12376-12376 203.0.113.7/32",
        "tcp 12377-12377 group",
        "tcp 12379-12379 group",
        "tcp 12390-12390 group",
        "tcp 15000-15000 group",
        "tcp 22-22 203.0.113.7/32",
        "tcp 7946-7946 group",
        "udp 4789-4789 group",
        "udp 7946-7946 group",
      ]);
    });
  });

  describe("existing subnet, Ubuntu arm64, Elastic IPs, reached privately", () => {
    let environment: InstanceType<EnvironmentModule["Environment"]>;
    before(async () => {
      calls.length = 0;
      environment = await deploy("aws2", {
        region: "us-east-1",
        adminCidrs: ["10.20.0.0/16", "198.51.100.0/24"],
        vpcId: "vpc-0123456789abcdef0",
        subnetId: "subnet-0123456789abcdef0",
        instanceType: "t4g.medium",
        image: { os: "ubuntu-22.04", architecture: "arm64" },
        rootVolume: { sizeGb: 50, type: "gp3", encrypted: true },
        elasticIps: true,
        connectVia: "private",
      });
    });

    it("creates no network, one Elastic IP per host, and opens admin ports to each admin CIDR", () => {
      assert.equal(resourcesOf("aws:ec2/vpc:Vpc", "aws2").length, 0);
      assert.equal(resourcesOf("aws:ec2/subnet:Subnet", "aws2").length, 0);
      assert.equal(
        resourcesOf("aws:ec2/securityGroup:SecurityGroup", "aws2")[0].inputs.vpcId,
        "vpc-0123456789abcdef0",
      );
      const eips = resourcesOf("aws:ec2/eip:Eip", "aws2");
      assert.deepEqual(eips.map(({ inputs }) => inputs.instance).sort(), [
        "aws2-machines-host-1-id",
        "aws2-machines-host-2-id",
      ]);
      const rules = ingressRules("aws2", "aws2-machines-sg-id");
      assert.equal(rules.length, 10);
      assert.ok(rules.includes("tcp 2376-2376 10.20.0.0/16"));
      assert.ok(rules.includes("tcp 22-22 198.51.100.0/24"));
    });

    it("looks up Canonical's arm64 image and uses the given type and volume", () => {
      const amiCall = calls.find((call) => call.token === "aws:ec2/getAmi:getAmi");
      assert.deepEqual(amiCall?.inputs.owners, ["099720109477"]);
      assert.deepEqual((amiCall?.inputs.filters as { values: string[] }[])[0].values, [
        "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-*",
      ]);
      for (const { inputs } of resourcesOf("aws:ec2/instance:Instance", "aws2")) {
        assert.equal(inputs.instanceType, "t4g.medium");
        assert.equal(inputs.subnetId, "subnet-0123456789abcdef0");
        assert.equal((inputs.rootBlockDevice as { volumeSize: number }).volumeSize, 50);
      }
    });

    it("connects over the private address", async () => {
      for (const machine of environment.machines) {
        const ssh = await valueOf(machine.ssh);
        assert.equal(ssh.host, await valueOf(machine.privateAddress));
      }
    });
  });

  it("accepts the example stack stacks/Pulumi.aws.yaml", async () => {
    const { resolveStackConfig: resolve } = await import("../../components/stack/config");
    const config = resolve(readStackFile(`${__dirname}/../../stacks/Pulumi.aws.yaml`));
    assert.equal(config.driver, "aws");
    assert.equal(config.aws?.adminCidrs.length, 1);
  });
});
