import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import type { Environment as EnvironmentClass } from "../../components/stack/environment";
import type { StackConfig } from "../../components/stack/config";
import { DEFAULT_STEP_TIMEOUTS } from "../../provision/dynamic/step-timeouts";
import { type CreatedResource, installHostMocks } from "./fixtures/host-mocks";

/**
 * The Environment's wiring under Pulumi mocks (no hosts): what is created per driver, which
 * values are secrets, and what each DockerEngine is given. The real path is test/e2e.
 */

let created: CreatedResource[] = [];

before(() => {
  created = installHostMocks();
});

async function newEnvironment(
  config: Partial<StackConfig>,
  upgrade?: { request: string; hosts: string[] },
): Promise<EnvironmentClass> {
  const { Environment } = await import("../../components/stack/environment");
  const { resolveStackConfig } = await import("../../components/stack/config");
  const resolved = {
    ...resolveStackConfig({}),
    ...config,
  };
  created.length = 0;
  return new Environment("unit", {
    stack: "unit",
    config: resolved,
    hostImage: "dockfleet/host:test",
    sshPrivateKey: pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----given"),
    upgrade,
  });
}

const valueOf = <T>(output: pulumi.Output<T>) =>
  new Promise<T>((resolve) => output.apply((value) => resolve(value)));

describe("Environment (Pulumi mocks)", () => {
  it("local driver: hosts on fixed addresses, an engine on each, private keys secret", async () => {
    const environment = await newEnvironment({ hosts: 2 });
    assert.deepEqual(
      environment.machines.map((machine) => machine.name),
      ["host-1", "host-2"],
    );
    assert.equal(await valueOf(environment.machines[1].privateAddress), "172.30.10.11");
    assert.equal(await valueOf(environment.engines[0].dockerHost), "tcp://172.30.10.10:2376");
    assert.equal(await pulumi.isSecret(environment.sshPrivateKey), true);
    assert.equal(await pulumi.isSecret(environment.machines[0].ssh), true);
    assert.equal(await pulumi.isSecret(environment.ca.certPem), false);
    const hostContainers = created.filter((resource) => resource.type.endsWith(":LocalHost"));
    assert.deepEqual(
      hostContainers.map((resource) => [resource.inputs.name, resource.inputs.ipv4Address]),
      [
        ["host-1", "172.30.10.10"],
        ["host-2", "172.30.10.11"],
      ],
    );
  });

  it("the server certificate of each host covers its addresses", async () => {
    await newEnvironment({ hosts: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const server = created.find(
      (resource) => resource.type.endsWith(":Certificate") && resource.inputs.kind === "server",
    );
    assert.ok(server, "a server certificate is created");
    assert.equal(server.inputs.commonName, "host-1");
    assert.deepEqual(server.inputs.ipAddresses, ["172.30.10.10", "127.0.0.1"]);
  });

  it("ssh driver: adopts the given hosts, with the given key, and installs Docker on each", async () => {
    const environment = await newEnvironment({
      driver: "ssh",
      sshHosts: [
        {
          name: "web",
          address: "203.0.113.5",
          privateAddress: "10.0.0.5",
          port: 2222,
          user: "admin",
          labels: {},
        },
      ],
    });
    assert.equal(await valueOf(environment.machines[0].privateAddress), "10.0.0.5");
    const ssh = await valueOf(environment.machines[0].ssh);
    assert.deepEqual(
      { ...ssh, privateKey: ssh.privateKey.slice(-5) },
      {
        host: "203.0.113.5",
        port: 2222,
        user: "admin",
        privateKey: "given",
        hostKey: "ssh-ed25519 AAAApinned",
        // Every remote step on the host finds its time bound here (dockfleet:stepTimeouts).
        stepTimeouts: DEFAULT_STEP_TIMEOUTS,
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(!created.some((resource) => resource.type.endsWith(":LocalHost")));
    assert.ok(created.some((resource) => resource.type.endsWith(":DockerInstall")));
  });

  it("upgrade: asks the named hosts' installs (all without names), refuses an unknown host", async () => {
    const requests = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return created
        .filter((resource) => resource.type.endsWith(":DockerInstall"))
        .map((resource) => [resource.name, resource.inputs.upgradeRequest]);
    };
    await newEnvironment({ hosts: 2 }, { request: "r1", hosts: ["host-2"] });
    assert.deepEqual(await requests(), [
      ["unit-host-1-engine-install", undefined],
      ["unit-host-2-engine-install", "r1"],
    ]);
    await newEnvironment({ hosts: 2 }, { request: "r2", hosts: [] });
    assert.deepEqual(
      (await requests()).map(([, request]) => request),
      ["r2", "r2"],
    );
    await assert.rejects(
      newEnvironment({ hosts: 2 }, { request: "r3", hosts: ["host-9"] }),
      /upgrade: no host named "host-9"; the hosts are host-1, host-2/,
    );
  });

  it("without a proxy, Docker's configuration is as before the proxy existed", async () => {
    const environment = await newEnvironment({ hosts: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const config = created.find((resource) => resource.type.endsWith(":DockerConfig"));
    assert.ok(config, "a DockerConfig is created");
    assert.ok(!("dockerdEnvironment" in config.inputs), JSON.stringify(Object.keys(config.inputs)));
    assert.doesNotMatch(String(config.inputs.systemdDropIn), /EnvironmentFile/);
    assert.equal((await valueOf(environment.machines[0].ssh)).proxyEnvironment, undefined);
  });

  it("with a proxy: every remote step and dockerd get it, the environment's addresses direct", async () => {
    const { ProxyConfigSchema } = await import("../../provision/dynamic/proxy-environment");
    const proxy = ProxyConfigSchema.parse({ http: "http://u:s3cret@10.9.9.9:3128" });
    const environment = await newEnvironment({ hosts: 2, proxy });
    const ssh = await valueOf(environment.machines[1].ssh);
    assert.equal(ssh.proxyEnvironment?.https_proxy, "http://u:s3cret@10.9.9.9:3128");
    assert.equal(
      ssh.proxyEnvironment?.NO_PROXY,
      "localhost,127.0.0.1,::1,172.30.10.10,172.30.10.11",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const configs = created.filter((resource) => resource.type.endsWith(":DockerConfig"));
    assert.equal(configs.length, 2);
    for (const config of configs) {
      // The mocks see a secret input as Pulumi's secret object.
      const file = config.inputs.dockerdEnvironment as {
        "4dabf18193072939515e22adb298388d": string;
        value: string;
      };
      assert.equal(file["4dabf18193072939515e22adb298388d"], "1b47061264138c4ac30d75fd1eb44270");
      assert.match(file.value, /^HTTPS_PROXY="http:\/\/u:s3cret@/m);
      assert.match(
        String(config.inputs.systemdDropIn),
        /^EnvironmentFile=\/etc\/docker\/dockfleet-proxy.env$/m,
      );
    }
  });

  it("ssh driver: an address given by DNS name is a DNS SAN of the server certificate", async () => {
    const environment = await newEnvironment({
      driver: "ssh",
      sshHosts: [
        {
          name: "web",
          address: "web.example.com",
          privateAddress: "10.0.0.5",
          port: 22,
          user: "root",
          labels: {},
        },
      ],
    });
    assert.equal(await valueOf(environment.engines[0].dockerHost), "tcp://web.example.com:2376");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const server = created.find(
      (resource) => resource.type.endsWith(":Certificate") && resource.inputs.kind === "server",
    );
    assert.ok(server, "a server certificate is created");
    assert.deepEqual(server.inputs.ipAddresses, ["10.0.0.5", "127.0.0.1"]);
    assert.deepEqual(server.inputs.dnsNames, ["web.example.com", "web", "localhost"]);
  });

  it("gives every certificate the certificates settings and its host; the CA none", async () => {
    const { resolveCertificatesConfig } = await import("../../provision/pki/config");
    await newEnvironment({
      hosts: 1,
      certificates: resolveCertificatesConfig({ duration: "90d", renewBefore: "36h" }),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const inputsOf = (kind: string) =>
      created
        .filter(
          (resource) => resource.type.endsWith(":Certificate") && resource.inputs.kind === kind,
        )
        .map(({ inputs }) => [inputs.validityDays, inputs.renewBeforeDays, inputs.host]);
    assert.deepEqual(inputsOf("server"), [[90, 1.5, "host-1"]]);
    assert.deepEqual(inputsOf("client"), [[90, 1.5, undefined]]);
    assert.deepEqual(inputsOf("ca"), [[3650, undefined, undefined]]);
  });

  it("a component refuses bad certificates settings, naming the key", async () => {
    const { DockerEngine } = await import("../../components/engine/docker-engine");
    const environment = await newEnvironment({ hosts: 1 });
    assert.throws(
      () =>
        new DockerEngine("bad", {
          machine: environment.machines[0],
          ca: { certPem: "CA", keyPem: "KEY" },
          certificates: { duration: "10d", renewBefore: "10d" },
        }),
      /dockfleet:certificates\.renewBefore = "10d": must be shorter than certificates\.duration \(10d\)/,
    );
    // Let the environment's registrations land before the next test counts its own.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it("DockerHost refuses an address that is neither an IP address nor a DNS name", async () => {
    const { DockerHost } = await import("../../components/engine/docker-host");
    created.length = 0;
    assert.throws(
      () =>
        new DockerHost("web", {
          address: "web_1.example.com",
          privateKey: "KEY",
          ca: { certPem: "CA", keyPem: "KEY" },
        }),
      /invalid DockerHost web args:\n {2}- address = "web_1\.example\.com": must be an IP address \(IPv6 without brackets\) or a DNS name/,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(!created.some((resource) => resource.type.endsWith(":SshHost")), "no host adopted");
  });
});
