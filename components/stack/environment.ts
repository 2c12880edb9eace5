import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Certificate } from "../../provision/pki/certificate";
import { certificateLifetime } from "../../provision/pki/config";
import { SshKeyPair } from "../../provision/ssh/key-pair";
import { DockerEngine } from "../engine/docker-engine";
import { EtcdCluster } from "../etcd/etcd-cluster";
import type { DriverMachines, DriverRequest, SshKey } from "../machines/driver";
import { machineDriver } from "../machines/drivers";
import { withStepSettings, type Machine } from "../machines/machine";
import { renderProxyEnvironment } from "../../provision/dynamic/proxy-environment";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { servicePorts, type StackConfig } from "./config";

export interface EnvironmentArgs {
  /** The stack's name: it names and labels everything the local driver creates. */
  stack: string;
  /** Validated stack config (resolveStackConfig). */
  config: StackConfig;
  /** Local driver: the host image tag (bin/lib/host-image.sh builds it). */
  hostImage?: string;
  /** Local driver, `image: docker`: the tag of the image with Docker preinstalled. */
  dockerHostImage?: string;
  /** Qemu driver: the VM image's folder (bin/lib/vm-image.sh builds it). */
  vmImage?: string;
  /** ssh driver: the private key that logs in to the existing hosts (a Pulumi secret). */
  sshPrivateKey?: pulumi.Input<string>;
  /** `dockfleet upgrade`: upgrade Docker on these hosts (every host when empty), under this request. */
  upgrade?: { request: string; hosts: string[] };
}

/** What a Docker client needs for one host: DOCKER_HOST and the TLS files. */
export interface HostSummary {
  name: string;
  driver: string;
  address: pulumi.Output<string>;
  privateAddress: pulumi.Output<string>;
  dockerHost: pulumi.Output<string>;
  dockerVersion: pulumi.Output<string>;
}

/**
 * One environment: its hosts (from the configured driver), Docker on each, and the PKI that
 * protects their APIs: one CA and one client certificate per environment, as docker-machine did.
 * That CA is the Docker API's alone: etcd and the registry have CAs of their own, so that no key
 * of theirs on a host opens the Docker API of another.
 */
export class Environment extends pulumi.ComponentResource {
  readonly machines: Machine[];
  readonly engines: DockerEngine[];
  /** The etcd cluster, when `etcd.enabled`. */
  readonly etcd?: EtcdCluster;
  /** The Docker API's CA: it signs the engines' server certificates and the client certificate. */
  readonly ca: Certificate;
  readonly clientCertificate: Certificate;
  /** The environment's SSH private key (a secret); with the ssh driver, the one given. */
  readonly sshPrivateKey: pulumi.Output<string>;

  constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:environment:Environment", name, {}, opts);
    const { config } = args;
    this.ca = new Certificate(
      `${name}-ca`,
      { kind: "ca", commonName: `dockfleet ${args.stack} CA` },
      { parent: this },
    );
    const caPair = { certPem: this.ca.certPem, keyPem: this.ca.keyPem };
    // The CA is not renewed by `up`: every engine and client would have to switch at once.
    this.clientCertificate = new Certificate(
      `${name}-client-cert`,
      {
        kind: "client",
        commonName: "dockfleet-client",
        ca: caPair,
        ...certificateLifetime(config.certificates),
      },
      { parent: this },
    );

    const hosts = this.createMachines(name, args);
    // Every remote step on a host finds its time bound and the proxy in the host's connection.
    // The environment's own addresses bypass the proxy (registry, etcd, swarm, Docker API).
    // A secret: the proxy's URL may hold a password.
    const proxyEnvironment = pulumi.secret(
      pulumi
        .all(hosts.machines.flatMap((machine) => [machine.publicAddress, machine.privateAddress]))
        .apply((addresses) => renderProxyEnvironment(config.proxy, addresses)),
    );
    this.machines = hosts.machines.map((machine) =>
      withStepSettings(machine, { stepTimeouts: config.stepTimeouts, proxyEnvironment }),
    );
    this.sshPrivateKey = hosts.sshPrivateKey;
    const upgraded = this.upgradedHosts(args.upgrade);

    // Hosts are independent: their engines install in parallel.
    // etcd needs no Docker, and with `dockerClusterStore` the engines need etcd: it comes first.
    this.etcd = config.etcd.enabled
      ? new EtcdCluster(
          `${name}-etcd`,
          {
            machines: this.machines,
            config: config.etcd,
            certificates: config.certificates,
          },
          { parent: this },
        )
      : undefined;
    this.engines = this.machines.map(
      (machine) =>
        new DockerEngine(
          `${name}-${machine.name}-engine`,
          {
            machine,
            config: config.engine,
            ca: caPair,
            certificates: config.certificates,
            versionedDaemonOptions: this.etcd?.dockerClusterStoreOptions(
              machine,
              config.engine.tlsPort,
            ),
            upgradeRequest: upgraded.has(machine.name) ? args.upgrade?.request : undefined,
            metricsPort: config.monitoring.enabled
              ? config.monitoring.engineMetricsPort
              : undefined,
            // dockerd pulls through the proxy too.
            proxyEnvironment:
              config.proxy === undefined
                ? undefined
                : proxyEnvironment.apply((environment) => environment ?? {}),
          },
          { parent: this },
        ),
    );
    this.registerOutputs({});
  }

  /** The hosts `upgrade` names (every host when it names none); an unknown name fails the preview. */
  private upgradedHosts(upgrade: EnvironmentArgs["upgrade"]): Set<string> {
    const names = this.machines.map((machine) => machine.name);
    if (upgrade === undefined) return new Set();
    const unknown = upgrade.hosts.filter((host) => !names.includes(host));
    if (unknown.length > 0) {
      throw new pulumi.ResourceError(
        `upgrade: no host named ${unknown.map((host) => JSON.stringify(host)).join(", ")}; the hosts are ${names.join(", ")}`,
        this,
      );
    }
    return new Set(upgrade.hosts.length > 0 ? upgrade.hosts : names);
  }

  /** The configured driver's hosts, and the private key that logs in to them. */
  private createMachines(name: string, args: EnvironmentArgs): DriverMachines {
    const { config } = args;
    let generated: SshKey | undefined;
    const request: DriverRequest = {
      name: `${name}-machines`,
      parent: this,
      stack: args.stack,
      settings: {
        count: config.hosts,
        namePrefix: config.namePrefix,
        ports: servicePorts(config),
        local: config.local,
        sshHosts: config.sshHosts,
        aws: config.aws,
        aliyun: config.aliyun,
        virtualbox: config.virtualbox,
        qemu: config.qemu,
        hostImage: args.hostImage,
        dockerHostImage: args.dockerHostImage,
        vmImage: args.vmImage,
      },
      generatedKey: () => {
        if (generated === undefined) {
          const keyPair = new SshKeyPair(
            `${name}-ssh-key`,
            { comment: `dockfleet-${args.stack}` },
            { parent: this },
          );
          generated = {
            publicKey: keyPair.publicKey,
            privateKey: pulumi.secret(keyPair.privateKey),
          };
        }
        return generated;
      },
      givenPrivateKey: (who) => {
        if (args.sshPrivateKey === undefined) {
          throw new Error(
            `${who} needs a private key: \`pulumi config set --secret dockfleet:sshPrivateKey ` +
              "< ~/.ssh/id_ed25519`",
          );
        }
        return pulumi.secret(pulumi.output(args.sshPrivateKey));
      },
    };
    return resolveOrFail(this, () => machineDriver(config.driver).createMachines(request));
  }

  /** Per host: addresses and what a Docker client needs. */
  hostSummaries(): HostSummary[] {
    return this.engines.map((engine) => ({
      name: engine.machine.name,
      driver: engine.machine.driver,
      address: engine.machine.publicAddress,
      privateAddress: engine.machine.privateAddress,
      dockerHost: engine.dockerHost,
      dockerVersion: engine.version,
    }));
  }

  /**
   * A ready `@pulumi/docker` Provider for one host's engine, opened with the environment's client
   * certificate (made on request: it needs the docker resource plugin).
   */
  dockerProvider(hostName: string, opts?: pulumi.ResourceOptions): docker.Provider {
    const engine = this.engines.find((candidate) => candidate.machine.name === hostName);
    if (engine === undefined) {
      throw new pulumi.ResourceError(
        `no host named ${JSON.stringify(hostName)}: the hosts are ${this.engines.map((e) => e.machine.name).join(", ")}`,
        this,
      );
    }
    return engine.dockerProvider(
      { certPem: this.clientCertificate.certPem, keyPem: this.clientCertificate.keyPem },
      opts,
    );
  }
}
