import { dockerCeSigningKey } from "./signing-keys";
import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/dynamic/log";
import { readScript } from "../../provision/dynamic/remote-step";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { Certificate } from "../../provision/pki/certificate";
import {
  certificateLifetime,
  type CertificatesConfigInput,
  resolveCertificatesConfig,
} from "../../provision/pki/config";
import { DockerConfig } from "./resources/docker-config";
import { DockerInstall } from "./resources/docker-install";
import {
  DOCKER_TLS_PATHS,
  DOCKERD_ENVIRONMENT_PATH,
  type JsonValue,
  renderDaemonJson,
  renderDockerDropIn,
} from "./plan";
import { renderEnvironmentFile } from "../../provision/dynamic/proxy-environment";
import type * as docker from "@pulumi/docker";
import { createDockerProvider } from "./docker-provider";
import {
  dockerCeBaseUrl,
  type EngineConfig,
  type EngineConfigInput,
  resolveEngineConfig,
} from "./config";
import { type Machine, machineSubjectAltNames, privateIpAddress } from "../machines/machine";

/** PEM certificate and key; the key a Pulumi secret. */
export interface CertificatePair {
  certPem: pulumi.Input<string>;
  keyPem: pulumi.Input<string>;
}

export interface DockerEngineArgs {
  /** The host, from any driver. */
  machine: Machine;
  /**
   * Package source, daemon.json settings, TLS port: the `dockfleet:engine` keys (see
   * docs/configuration.md), defaults applied here by resolveEngineConfig. @default {}
   */
  config?: EngineConfigInput;
  /** The CA that signs the host's server certificate; clients must hold a certificate from it. */
  ca: CertificatePair;
  /**
   * The server certificate's lifetime and renewal window (the `dockfleet:certificates` keys):
   * `up` issues it again once it is that close to expiry and restarts this host's Docker only.
   * @default { duration: "825d", renewBefore: "30d" }
   */
  certificates?: CertificatesConfigInput;
  /**
   * More daemon.json options, worked out from the installed engine version (EtcdCluster's
   * dockerClusterStoreOptions: refused for Docker 23 and later). Merged over config.daemonOptions;
   * keys dockfleet manages are refused the same way.
   * @default none
   */
  versionedDaemonOptions?: (engineVersion: string) => pulumi.Input<Record<string, JsonValue>>;
  /**
   * The proxy variables dockerd pulls with (renderProxyEnvironment: `dockfleet:proxy`), a secret.
   * Given only with a proxy: dockerd then reads them from a 0600 file its drop-in names.
   */
  proxyEnvironment?: pulumi.Input<Readonly<Record<string, string>>>;
  /**
   * A new value upgrades Docker to the newest version of its source (of `config.version`, when
   * pinned) once, restarting it in turn with the swarm's other hosts (`dockfleet upgrade`).
   */
  upgradeRequest?: string;
  /**
   * Serve dockerd's Prometheus metrics on this port of the host's private address (daemon.json
   * `metrics-addr`), for the Monitoring component. @default no metrics endpoint
   */
  metricsPort?: number;
}

/** Pure: install-docker.sh's parameters for an engine config. */
export function renderInstallEnv(config: EngineConfig): Record<string, string> {
  const env: Record<string, string> = {
    DOCKER_SOURCE: config.source === "distro" ? "distro" : "docker-ce",
    INSTALL_RECOMMENDS: config.installRecommends ? "1" : "0",
    // DockerConfig writes daemon.json next and starts dockerd once, with it.
    DOCKER_START: "0",
  };
  const baseUrl = dockerCeBaseUrl(config);
  if (baseUrl !== undefined) {
    env.DOCKER_CE_MIRROR = baseUrl;
    // Docker's keys travel with the script: the mirror never decides which packages are genuine.
    env.DOCKER_CE_DEB_KEY = dockerCeSigningKey("deb");
    env.DOCKER_CE_RPM_KEY = dockerCeSigningKey("rpm");
    if (config.allowInsecureHttpMirror) env.ALLOW_HTTP_MIRROR = "1";
  }
  if (config.version !== undefined) env.DOCKER_VERSION = config.version;
  return env;
}

/** Pure: the host's daemon.json for an engine config. */
export function renderEngineDaemonJson(
  config: EngineConfig,
  hostLabels: Record<string, string>,
  moreOptions: Record<string, JsonValue> = {},
  metricsAddress?: string,
) {
  return renderDaemonJson({
    registryMirrors: config.registryMirrors,
    insecureRegistries: config.insecureRegistries,
    logOpts: { "max-size": config.logMaxSize, "max-file": String(config.logMaxFile) },
    storageDriver: config.storageDriver,
    labels: { ...config.labels, ...hostLabels },
    liveRestore: config.liveRestore === true,
    tls: DOCKER_TLS_PATHS,
    tlsPort: config.tlsPort,
    metricsAddress,
    // The schema accepts any JSON value here; renderDaemonJson refuses keys dockfleet manages.
    extra: { ...(config.daemonOptions as Record<string, JsonValue>), ...moreOptions },
  });
}

/**
 * Docker on one host, as docker-machine set it up: packages from the chosen source, daemon.json
 * with mirrors and log rotation, and the remote API on the TLS port with client-certificate auth.
 * Changing mirrors or options rewrites daemon.json and restarts Docker; nothing is reinstalled.
 */
export class DockerEngine extends pulumi.ComponentResource {
  /** tcp://<address>:<port>, for DOCKER_HOST. */
  readonly dockerHost: pulumi.Output<string>;
  /** The installed Docker version. */
  readonly version: pulumi.Output<string>;
  readonly machine: Machine;
  /** PEM of the CA clients check the engine's certificate with. */
  readonly caCertPem: pulumi.Input<string>;
  /** The API's server certificate (its expiry is a stack output, `dockfleet ls` shows it). */
  readonly serverCertificate: Certificate;
  private readonly resourceName: string;

  constructor(name: string, args: DockerEngineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:engine:DockerEngine", name, {}, opts);
    const { machine, versionedDaemonOptions, proxyEnvironment, metricsPort } = args;
    const { config, lifetime } = resolveOrFail(this, () => ({
      config: resolveEngineConfig(args.config),
      lifetime: certificateLifetime(resolveCertificatesConfig(args.certificates)),
    }));
    this.machine = machine;
    this.caCertPem = args.ca.certPem;
    this.resourceName = name;
    const serverCertificate = (this.serverCertificate = new Certificate(
      `${name}-server-cert`,
      {
        kind: "server",
        commonName: machine.name,
        ...machineSubjectAltNames(machine),
        ca: args.ca,
        ...lifetime,
        host: machine.name,
      },
      { parent: this },
    ));
    const install = new DockerInstall(
      `${name}-install`,
      {
        host: machine.name,
        connection: machine.ssh,
        logUrn: logUrnOf(this),
        script: readScript(__dirname, "install-docker.sh"),
        env: renderInstallEnv(config),
        removeOnDestroy: config.removeOnDestroy,
        upgradeRequest: args.upgradeRequest,
      },
      { parent: this },
    );
    const hostLabels = { ...machine.labels, "dockfleet.io/host": machine.name };
    const configured = new DockerConfig(
      `${name}-config`,
      {
        host: machine.name,
        connection: machine.ssh,
        logUrn: logUrnOf(this),
        script: readScript(__dirname, "apply-docker-config.sh"),
        daemonJson: pulumi
          .all([
            versionedDaemonOptions
              ? install.version.apply((version) => pulumi.output(versionedDaemonOptions(version)))
              : {},
            metricsPort === undefined
              ? undefined
              : privateIpAddress(machine, "Docker's metrics endpoint").apply((address) =>
                  address.includes(":")
                    ? `[${address}]:${metricsPort}`
                    : `${address}:${metricsPort}`,
                ),
          ])
          .apply(([more, metricsAddress]) =>
            renderEngineDaemonJson(config, hostLabels, more, metricsAddress),
          ),
        systemdDropIn: install.dockerdPath.apply((dockerd) =>
          renderDockerDropIn(dockerd, {
            environmentFile: proxyEnvironment === undefined ? undefined : DOCKERD_ENVIRONMENT_PATH,
          }),
        ),
        // Absent without a proxy, so that states from before the proxy existed see no change.
        dockerdEnvironment:
          proxyEnvironment === undefined
            ? undefined
            : pulumi.output(proxyEnvironment).apply(renderEnvironmentFile),
        caCertPem: args.ca.certPem,
        serverCertPem: serverCertificate.certPem,
        serverKeyPem: serverCertificate.keyPem,
      },
      { parent: this, dependsOn: [install] },
    );
    // Known only once the API is up with its certificates, so users of it wait for that.
    this.dockerHost = pulumi
      .all([machine.publicAddress, configured.id])
      .apply(([address]) => `tcp://${address}:${config.tlsPort}`);
    this.version = install.version;
    this.registerOutputs({ dockerHost: this.dockerHost, version: this.version });
  }

  /**
   * A ready `@pulumi/docker` Provider for this engine, opened with a client certificate from the
   * same CA (Environment.clientCertificate). Made on request only: a provider resource needs the
   * docker resource plugin, which programs that do not use @pulumi/docker do not have.
   */
  dockerProvider(client: CertificatePair, opts?: pulumi.ResourceOptions): docker.Provider {
    return createDockerProvider(
      `${this.resourceName}-docker`,
      {
        dockerHost: this.dockerHost,
        caPem: this.caCertPem,
        certPem: client.certPem,
        keyPem: client.keyPem,
      },
      { parent: this, ...opts },
    );
  }
}
