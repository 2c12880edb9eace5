import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/dynamic/log";
import { readScript } from "../../provision/dynamic/remote-step";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { AppImagePush } from "../apps/resources/app-image-push";
import type { DockerEngine } from "../engine/docker-engine";
import { engineNamed } from "../engine/engine-named";
import type { EtcdCluster } from "../etcd/etcd-cluster";
import { privateIpAddress } from "../machines/machine";
import type { PrivateRegistry } from "../registry/private-registry";
import { RegistryPassword } from "../registry/resources/registry-password";
import {
  type MonitoringConfig,
  type MonitoringConfigInput,
  resolveMonitoringConfig,
} from "./config";
import {
  NODE_EXPORTER_USERNAME,
  PASSWORD_HASH_MARK,
  renderAlertRules,
  renderPrometheusServerEnv,
  renderPrometheusWebConfig,
  renderPrometheusYml,
  type ScrapeTarget,
  targetAddress,
} from "./plan";
import { NodeExporter } from "./resources/node-exporter";
import { PrometheusServer } from "./resources/prometheus-server";

/** The Prometheus image bin/lib/setup.sh builds (provision/images/apps/prometheus). */
export const DEFAULT_PROMETHEUS_IMAGE = "dockfleet/apps-prometheus:latest";

export interface MonitoringArgs {
  /**
   * Every engine of the environment: each gets a node exporter and is scraped. Their
   * DockerEngines must have been given `metricsPort: config.engineMetricsPort`.
   */
  engines: DockerEngine[];
  /**
   * The private registry: Prometheus's image is pushed there from this machine's engine and
   * pulled by its host (every engine trusts and logs in to it). Its metrics are scraped (job
   * "registry") when it was given `metricsPort: config.registryMetricsPort`.
   */
  registry: PrivateRegistry;
  /** The etcd cluster, scraped over TLS with its client certificate. @default no etcd job */
  etcd?: EtcdCluster;
  /**
   * The engine whose host runs Prometheus. Overrides `config.host`.
   * @default the engine named by config.host, else the registry's host
   */
  host?: DockerEngine;
  /** The `dockfleet:monitoring` settings (docs/components/monitoring.md). @default {} */
  config?: MonitoringConfigInput;
  /** The Prometheus image in this machine's Docker engine. @default "dockfleet/apps-prometheus:latest" */
  image?: string;
}

/** Pure: applies the config's defaults and picks Prometheus's host; throws a ConfigError. */
export function resolveMonitoringArgs(args: MonitoringArgs): {
  config: MonitoringConfig;
  host: DockerEngine;
} {
  const config = resolveMonitoringConfig(args.config);
  if (args.engines.length === 0) {
    throw new Error("Monitoring: engines is empty; give the environment's DockerEngines");
  }
  const host =
    args.host ??
    engineNamed(args.engines, config.host, "monitoring") ??
    args.engines.find((engine) => engine.machine.name === args.registry.hostName) ??
    args.engines[0];
  return { config, host };
}

/**
 * Fleet monitoring: Prometheus (Debian's package, in an image pushed to the private registry)
 * as a container on one host, a node exporter on every host, scraping those, every Docker
 * engine's metrics endpoint, etcd and the registry, with alert rules for a host down, an etcd
 * member down, a swarm node not Ready and a disk almost full. Everything listens on the hosts'
 * private addresses only; Prometheus's UI and API ask for basic auth.
 */
export class Monitoring extends pulumi.ComponentResource {
  /** http://<private address>:<port>: Prometheus's UI and API (basic auth). */
  readonly url: pulumi.Output<string>;
  readonly username: pulumi.Output<string>;
  /** The basic auth password (a secret). */
  readonly password: pulumi.Output<string>;
  /** The host that runs Prometheus. */
  readonly hostName: string;
  /** The password Prometheus scrapes the node exporters with, as NODE_EXPORTER_USERNAME (a secret). */
  readonly nodeExporterPassword: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:monitoring:Monitoring", name, {}, opts);
    const { config, host } = resolveOrFail(this, () => resolveMonitoringArgs(args));
    this.hostName = host.machine.name;
    const logUrn = logUrnOf(this);

    const password = pulumi.secret(
      config.password ?? new RegistryPassword(`${name}-password`, {}, { parent: this }).value,
    );

    const nodeExporterPassword = (this.nodeExporterPassword = pulumi.secret(
      new RegistryPassword(`${name}-node-exporter-password`, {}, { parent: this }).value,
    ));
    const exporters = args.engines.map(
      (engine) =>
        new NodeExporter(
          `${name}-node-exporter-${engine.machine.name}`,
          {
            host: engine.machine.name,
            connection: engine.machine.ssh,
            logUrn,
            script: readScript(__dirname, "ensure-node-exporter.sh"),
            env: pulumi
              .all([privateIpAddress(engine.machine, "the node exporter"), nodeExporterPassword])
              .apply(([address, webPassword]) => ({
                LISTEN: targetAddress(address, config.nodeExporterPort),
                WEB_USERNAME: NODE_EXPORTER_USERNAME,
                WEB_PASSWORD: webPassword,
              })),
            removeOnDestroy: true,
          },
          { parent: this, dependsOn: [engine] },
        ),
    );

    const targetsAt = (engines: DockerEngine[], port: number) =>
      pulumi.all(
        engines.map((engine) =>
          privateIpAddress(engine.machine, "monitoring").apply((address): ScrapeTarget => ({
            host: engine.machine.name,
            address: targetAddress(address, port),
          })),
        ),
      );
    const etcd = args.etcd;
    const etcdTargets = etcd
      ? etcd.endpoints.apply((endpoints) =>
          endpoints.map((endpoint, index): ScrapeTarget => ({
            host: etcd.memberNames[index],
            address: new URL(endpoint).host,
          })),
        )
      : pulumi.output([] as ScrapeTarget[]);
    const registryTarget =
      args.registry.metricsAddress === undefined
        ? pulumi.output(undefined)
        : args.registry.metricsAddress.apply((address): ScrapeTarget => ({
            host: args.registry.hostName,
            address,
          }));
    const prometheusYml = pulumi
      .all([
        targetsAt(args.engines, config.nodeExporterPort),
        targetsAt(args.engines, config.engineMetricsPort),
        etcdTargets,
        registryTarget,
      ])
      .apply(([nodes, engines, etcdMembers, registry]) =>
        renderPrometheusYml({
          scrapeInterval: config.scrapeInterval,
          evaluationInterval: config.evaluationInterval,
          nodes,
          engines,
          etcd: etcdMembers,
          registry,
        }),
      );

    const image = new AppImagePush(
      `${name}-image`,
      {
        source: args.image ?? DEFAULT_PROMETHEUS_IMAGE,
        registryUrl: args.registry.url,
        username: args.registry.username,
        password: args.registry.password,
        caPem: args.registry.caCertPem,
        logUrn,
      },
      { parent: this },
    );

    const listenAddress = privateIpAddress(host.machine, "Prometheus");
    const server = new PrometheusServer(
      `${name}-prometheus`,
      {
        host: host.machine.name,
        connection: host.machine.ssh,
        logUrn,
        script: readScript(__dirname, "ensure-prometheus.sh"),
        env: pulumi.all([image.reference, listenAddress]).apply(([reference, address]) =>
          renderPrometheusServerEnv({
            image: reference,
            listenAddress: address,
            port: config.port,
            retention: config.retention,
            username: config.username,
          }),
        ),
        prometheusYml,
        rulesYml: renderAlertRules({
          hostDownFor: config.hostDownFor,
          diskFullPercent: config.diskFullPercent,
        }),
        webYml: renderPrometheusWebConfig(config.username, PASSWORD_HASH_MARK),
        password,
        nodeExporterPassword,
        etcdCaPem: etcd?.caPem ?? "",
        etcdCertPem: etcd?.clientCertPem ?? "",
        etcdKeyPem: etcd?.clientKeyPem ?? "",
      },
      // The host pulls the image from the registry: its trust and login come first.
      { parent: this, dependsOn: [host, args.registry, ...exporters] },
    );

    this.url = pulumi
      .all([listenAddress, server.id])
      .apply(([address]) => `http://${targetAddress(address, config.port)}`);
    this.username = pulumi.output(config.username);
    this.password = password;
    this.registerOutputs({ url: this.url, username: this.username, password: this.password });
  }
}
