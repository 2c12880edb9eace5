import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import {
  deployEnvironment,
  valueOf,
  dynamicType,
  installMocks,
  resourcesOf,
  secretInput,
  settle,
} from "./fixtures/pulumi-mocks";

installMocks("montest");

/**
 * The Monitoring component's wiring under Pulumi mocks (no hosts): Docker's metrics endpoint in
 * every daemon.json, a node exporter per host on its private address, Prometheus on the
 * registry's host with every target in its prometheus.yml and its password a secret. The real
 * path is test/e2e/monitoring.test.ts.
 */
describe("Monitoring (Pulumi mocks)", () => {
  /** The hosts' private addresses, as the mocked instances got them. */
  let ip: string[] = [];
  before(async () => {
    const { PrivateRegistry } = await import("../../components/registry/private-registry");
    const { Monitoring } = await import("../../components/monitoring/monitoring");
    const environment = await deployEnvironment("mon", {
      driver: "aws",
      aws: { region: "eu-west-1", adminCidrs: ["203.0.113.7/32"] },
      hosts: 2,
      etcd: { enabled: true, members: 1 },
      registry: { enabled: true, host: "host-2" },
      monitoring: { enabled: true },
    });
    const registry = new PrivateRegistry("mon-registry", {
      engines: environment.engines,
      config: { host: "host-2" },
      metricsPort: 5001,
    });
    new Monitoring("mon-monitoring", {
      engines: environment.engines,
      registry,
      etcd: environment.etcd,
      config: { enabled: true, password: "a-given-password" },
    });
    await settle();
    ip = await Promise.all(environment.machines.map((m) => valueOf(m.privateAddress)));
  });

  it("serves Docker's metrics on each host's private address", () => {
    const configs = resourcesOf(dynamicType("DockerConfig"), "mon-");
    assert.deepEqual(
      configs.map((config) => JSON.parse(config.inputs.daemonJson as string)["metrics-addr"]),
      [`${ip[0]}:9323`, `${ip[1]}:9323`],
    );
  });

  it("installs a node exporter on every host, on its private address, behind basic auth", () => {
    const exporters = resourcesOf(dynamicType("NodeExporter"), "mon-monitoring-");
    const envs = exporters.map((exporter) =>
      secretInput<Record<string, string>>(exporter.inputs.env),
    );
    assert.deepEqual(
      exporters.map((exporter, index) => [exporter.inputs.host, envs[index].LISTEN]),
      [
        ["host-1", `${ip[0]}:9100`],
        ["host-2", `${ip[1]}:9100`],
      ],
    );
    const [server] = resourcesOf(dynamicType("PrometheusServer"), "mon-monitoring-");
    const password = secretInput<string>(server.inputs.nodeExporterPassword);
    assert.equal(password, "generated mon-monitoring-node-exporter-password");
    for (const env of envs) {
      assert.equal(env.WEB_USERNAME, "prometheus");
      assert.equal(env.WEB_PASSWORD, password, "Prometheus scrapes with the exporters' password");
    }
  });

  it("runs Prometheus on the registry's host, scraping every target", () => {
    const [server] = resourcesOf(dynamicType("PrometheusServer"), "mon-monitoring-");
    assert.ok(server, "a PrometheusServer is created");
    assert.equal(server.inputs.host, "host-2");
    const yml = server.inputs.prometheusYml as string;
    for (const target of [
      `${ip[0]}:9100`,
      `${ip[1]}:9100`,
      `${ip[0]}:9323`,
      `${ip[1]}:9323`,
      `${ip[0]}:2379`,
      `${ip[1]}:5001`,
    ]) {
      assert.ok(yml.includes(`"${target}"`), `${target} is not scraped:\n${yml}`);
    }
    assert.match(server.inputs.webYml as string, /^ {2}admin: @PASSWORD_HASH@$/m);
    assert.equal(secretInput<string>(server.inputs.password), "a-given-password");
    assert.equal((server.inputs.env as Record<string, string>).LISTEN, `${ip[1]}:9090`);
  });
});
