import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { renderDaemonJson } from "../../components/engine/plan";
import {
  MonitoringConfigSchema,
  resolveMonitoringConfig,
} from "../../components/monitoring/config";
import {
  PASSWORD_HASH_MARK,
  renderAlertRules,
  renderPrometheusServerEnv,
  renderPrometheusWebConfig,
  renderPrometheusYml,
  targetAddress,
} from "../../components/monitoring/plan";
import { renderRegistryConfigYml, renderRegistryServerEnv } from "../../components/registry/plan";
import { resolveStackConfig } from "../../components/stack/config";

const targets = (port: number) => [
  { host: "host-2", address: `10.0.0.6:${port}` },
  { host: "host-1", address: `10.0.0.5:${port}` },
];

describe("renderPrometheusYml", () => {
  it("lists every job's targets one by one with a host label, nodes with auth, etcd over TLS", () => {
    const text = renderPrometheusYml({
      scrapeInterval: "15s",
      evaluationInterval: "10s",
      nodes: targets(9100),
      engines: targets(9323),
      etcd: [{ host: "host-1", address: "10.0.0.5:2379" }],
      registry: { host: "host-1", address: "10.0.0.5:5001" },
    });
    assert.equal(
      text,
      [
        "# Written by dockfleet (components/monitoring/plan.ts); changes here are overwritten.",
        "global:",
        "  scrape_interval: 15s",
        "  evaluation_interval: 10s",
        "rule_files:",
        '  - "/etc/dockfleet/prometheus/rules.yml"',
        "scrape_configs:",
        "  - job_name: node",
        "    basic_auth:",
        '      username: "prometheus"',
        '      password_file: "/etc/dockfleet/prometheus/node-exporter-password"',
        "    static_configs:",
        '      - targets: ["10.0.0.5:9100"]',
        "        labels:",
        '          host: "host-1"',
        '      - targets: ["10.0.0.6:9100"]',
        "        labels:",
        '          host: "host-2"',
        "  - job_name: docker",
        "    static_configs:",
        '      - targets: ["10.0.0.5:9323"]',
        "        labels:",
        '          host: "host-1"',
        '      - targets: ["10.0.0.6:9323"]',
        "        labels:",
        '          host: "host-2"',
        "  - job_name: etcd",
        "    scheme: https",
        "    tls_config:",
        '      ca_file: "/etc/dockfleet/prometheus/etcd-ca.pem"',
        '      cert_file: "/etc/dockfleet/prometheus/etcd-client.pem"',
        '      key_file: "/etc/dockfleet/prometheus/etcd-client-key.pem"',
        "    static_configs:",
        '      - targets: ["10.0.0.5:2379"]',
        "        labels:",
        '          host: "host-1"',
        "  - job_name: registry",
        "    static_configs:",
        '      - targets: ["10.0.0.5:5001"]',
        "        labels:",
        '          host: "host-1"',
        "",
      ].join("\n"),
    );
    assert.equal(parse(text).scrape_configs.length, 4);
  });

  it("leaves out jobs without targets (no etcd, no registry metrics)", () => {
    const config = parse(
      renderPrometheusYml({
        scrapeInterval: "2s",
        evaluationInterval: "2s",
        nodes: targets(9100),
        engines: targets(9323),
        etcd: [],
      }),
    );
    assert.deepEqual(
      config.scrape_configs.map((job: { job_name: string }) => job.job_name),
      ["node", "docker"],
    );
    assert.equal(config.global.scrape_interval, "2s");
  });
});

describe("targetAddress", () => {
  it("brackets IPv6 addresses", () => {
    assert.equal(targetAddress("10.0.0.5", 9100), "10.0.0.5:9100");
    assert.equal(targetAddress("fd00::5", 9100), "[fd00::5]:9100");
  });
});

describe("renderAlertRules", () => {
  const rules = parse(renderAlertRules({ hostDownFor: "4s", diskFullPercent: 85 })).groups[0]
    .rules as { alert: string; expr: string; for: string; annotations: { summary: string } }[];
  const byName = Object.fromEntries(rules.map((rule) => [rule.alert, rule]));

  it("has the host, engine, etcd, swarm and disk alerts", () => {
    assert.deepEqual(Object.keys(byName), [
      "HostDown",
      "EngineMetricsDown",
      "EtcdMemberDown",
      "SwarmNodeNotReady",
      "DiskAlmostFull",
    ]);
  });

  it("fires HostDown after hostDownFor without the node exporter, naming the host", () => {
    assert.equal(byName.HostDown.expr, 'up{job="node"} == 0');
    assert.equal(byName.HostDown.for, "4s");
    assert.match(byName.HostDown.annotations.summary, /\{\{ \$labels\.host \}\}/);
  });

  it("takes etcd members down or without a leader, and swarm nodes not ready", () => {
    assert.match(byName.EtcdMemberDown.expr, /up\{job="etcd"\} == 0/);
    assert.match(byName.EtcdMemberDown.expr, /etcd_server_has_leader\{job="etcd"\} == 0/);
    assert.match(
      byName.SwarmNodeNotReady.expr,
      /swarm_manager_nodes\{job="docker", state!="ready"\}/,
    );
  });

  it("puts the disk threshold in the expression and the summary", () => {
    assert.match(byName.DiskAlmostFull.expr, /> 85$/);
    assert.match(byName.DiskAlmostFull.annotations.summary, /85%/);
  });
});

describe("renderPrometheusWebConfig", () => {
  const hash = `$2y$05$${"a".repeat(53)}`;

  it("gives one basic auth user with a bcrypt hash, or the mark the script fills in", () => {
    assert.deepEqual(parse(renderPrometheusWebConfig("admin", hash)), {
      basic_auth_users: { admin: hash },
    });
    assert.match(
      renderPrometheusWebConfig("ops", PASSWORD_HASH_MARK),
      /^ {2}ops: @PASSWORD_HASH@$/m,
    );
  });

  it("refuses a clear-text password and a user name YAML would misread", () => {
    assert.throws(() => renderPrometheusWebConfig("admin", "secret-password"), /bcrypt/);
    assert.throws(() => renderPrometheusWebConfig("ad: min", hash), /username/);
  });
});

describe("renderPrometheusServerEnv", () => {
  it("gives the image, the private listen address and the files' places", () => {
    assert.deepEqual(
      renderPrometheusServerEnv({
        image: "10.0.0.5:5000/dockfleet/apps-prometheus@sha256:abc",
        listenAddress: "10.0.0.5",
        port: 9090,
        retention: "15d",
        username: "admin",
      }),
      {
        IMAGE: "10.0.0.5:5000/dockfleet/apps-prometheus@sha256:abc",
        LISTEN: "10.0.0.5:9090",
        RETENTION: "15d",
        WEB_USERNAME: "admin",
        CONFIG_DIR: "/etc/dockfleet/prometheus",
        STAGING_DIR: "/etc/dockfleet/prometheus.staged",
        CONTAINER_NAME: "dockfleet-prometheus",
      },
    );
  });
});

describe("dockfleet:monitoring", () => {
  it("is off by default, with Prometheus's usual ports", () => {
    const config = MonitoringConfigSchema.parse({});
    assert.equal(config.enabled, false);
    assert.equal(config.port, 9090);
    assert.equal(config.nodeExporterPort, 9100);
    assert.equal(config.engineMetricsPort, 9323);
    assert.equal(config.registryMetricsPort, 5001);
    assert.equal(config.username, "admin");
    assert.equal(config.password, undefined);
  });

  it("names a bad duration, percentage or password with the key", () => {
    assert.throws(
      () => resolveMonitoringConfig({ scrapeInterval: "15 seconds" }),
      /dockfleet:monitoring\.scrapeInterval[\s\S]*Prometheus duration/,
    );
    assert.throws(() => resolveMonitoringConfig({ diskFullPercent: 100 }), /diskFullPercent/);
    assert.throws(() => resolveMonitoringConfig({ password: "short" }), /at least 8/);
  });

  const stack = (monitoring: Record<string, unknown>, more: Record<string, string> = {}) =>
    resolveStackConfig({
      "dockfleet:hosts": "2",
      "dockfleet:registry": JSON.stringify({ enabled: true }),
      "dockfleet:monitoring": JSON.stringify(monitoring),
      ...more,
    });

  it("is part of the stack config", () => {
    assert.equal(stack({ enabled: true }).monitoring.enabled, true);
  });

  it("needs the registry", () => {
    assert.throws(
      () => stack({ enabled: true }, { "dockfleet:registry": "{}" }),
      /dockfleet:monitoring\.enabled[\s\S]*needs the private registry/,
    );
  });

  it("refuses a host that does not exist and a port another service takes", () => {
    assert.throws(
      () => stack({ enabled: true, host: "host-9" }),
      /dockfleet:monitoring\.host[\s\S]*host-1, host-2/,
    );
    assert.throws(
      () => stack({ enabled: true, nodeExporterPort: 2376 }),
      /dockfleet:monitoring\.nodeExporterPort/,
    );
    assert.throws(() => stack({ enabled: true, port: 5000 }), /dockfleet:monitoring\.port/);
  });
});

describe("the metrics endpoints of Docker and the registry", () => {
  it("puts metrics-addr in daemon.json", () => {
    const daemon = JSON.parse(renderDaemonJson({ metricsAddress: "10.0.0.5:9323" }));
    assert.equal(daemon["metrics-addr"], "10.0.0.5:9323");
    assert.equal(JSON.parse(renderDaemonJson({}))["metrics-addr"], undefined);
    assert.throws(() => renderDaemonJson({ metricsAddress: "9323" }), /address:port/);
    // A host's own metrics-addr (daemonOptions) stays possible without monitoring, not with it.
    assert.equal(
      JSON.parse(renderDaemonJson({ extra: { "metrics-addr": "0.0.0.0:9323" } }))["metrics-addr"],
      "0.0.0.0:9323",
    );
    assert.throws(
      () => renderDaemonJson({ metricsAddress: "10.0.0.5:9323", extra: { "metrics-addr": "x:1" } }),
      /clashes with metricsAddress/,
    );
  });

  it("gives the registry a debug listener with Prometheus metrics on the private address", () => {
    const options = {
      runAs: "service" as const,
      storagePath: "/var/lib/docker-registry",
      port: 5000,
      listenAddress: "10.0.0.5",
      authentication: true,
      deleteEnabled: false,
    };
    const config = parse(renderRegistryConfigYml({ ...options, metricsPort: 5001 }));
    assert.deepEqual(config.http.debug, {
      addr: "10.0.0.5:5001",
      prometheus: { enabled: true, path: "/metrics" },
    });
    assert.equal(parse(renderRegistryConfigYml(options)).http.debug, undefined);
    const container = { ...options, runAs: "container" as const, metricsPort: 5001 };
    assert.equal(parse(renderRegistryConfigYml(container)).http.debug.addr, ":5001");
    const env = renderRegistryServerEnv({ ...container, image: "registry:2" });
    assert.equal(env.METRICS_PORT, "5001");
  });
});
