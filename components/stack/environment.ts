import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Certificate } from "../../provision/pki/certificate";
import { SshKeyPair } from "../../provision/ssh/key-pair";
import { DockerEngine } from "../engine/docker-engine";
import { EtcdCluster } from "../etcd/etcd-cluster";
import { AliyunMachines } from "../machines/cloud/aliyun";
import { AwsMachines } from "../machines/cloud/aws";
import { LocalMachines } from "../machines/local/local-machines";
import type { Machine } from "../machines/machine";
import { SshMachines } from "../machines/ssh/ssh-machines";
import { VirtualBoxMachines } from "../machines/virtualbox/virtualbox-machines";
import type { StackConfig } from "./config";

export interface EnvironmentArgs {
  /** The stack's name: it names and labels everything the local driver creates. */
  stack: string;
  /** Validated stack config (resolveStackConfig). */
  config: StackConfig;
  /** Local driver: the host image tag (bin/lib/host-image.sh builds it). */
  hostImage?: string;
  /** ssh driver: the private key that logs in to the existing hosts (a Pulumi secret). */
  sshPrivateKey?: pulumi.Input<string>;
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
 */
export class Environment extends pulumi.ComponentResource {
  readonly machines: Machine[];
  readonly engines: DockerEngine[];
  /** The etcd cluster, when `etcd.enabled`. */
  readonly etcd?: EtcdCluster;
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
    this.clientCertificate = new Certificate(
      `${name}-client-cert`,
      { kind: "client", commonName: "dockfleet-client", ca: caPair },
      { parent: this },
    );

    const hosts = this.createMachines(name, args);
    this.machines = hosts.machines;
    this.sshPrivateKey = hosts.sshPrivateKey;

    // Hosts are independent: their engines install in parallel.
    // etcd needs no Docker, and with `dockerClusterStore` the engines need etcd: it comes first.
    this.etcd = config.etcd.enabled
      ? new EtcdCluster(
          `${name}-etcd`,
          { machines: this.machines, ca: caPair, config: config.etcd },
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
            versionedDaemonOptions: this.etcd?.dockerClusterStoreOptions(
              machine,
              config.engine.tlsPort,
            ),
          },
          { parent: this },
        ),
    );
    this.registerOutputs({});
  }

  /** The configured driver's hosts, and the private key that logs in to them. */
  private createMachines(
    name: string,
    args: EnvironmentArgs,
  ): { machines: Machine[]; sshPrivateKey: pulumi.Output<string> } {
    const { config } = args;
    const opts = { parent: this };
    const common = { stack: args.stack, count: config.hosts, namePrefix: config.namePrefix };
    switch (config.driver) {
      case "local": {
        if (args.hostImage === undefined) {
          throw new pulumi.ResourceError(
            "the local driver needs the host image: run `npm run up` (bin/up builds it), " +
              "or set DOCKFLEET_HOST_IMAGE to the tag printed by bin/lib/host-image.sh",
            this,
          );
        }
        const sshKey = this.environmentKey(name, args);
        const machines = new LocalMachines(
          `${name}-machines`,
          { ...common, subnet: config.local.subnet, image: args.hostImage, sshKey },
          opts,
        ).machines;
        return { machines, sshPrivateKey: pulumi.output(sshKey.privateKey) };
      }
      case "ssh": {
        const privateKey = this.givenPrivateKey("the ssh driver", args);
        const machines = new SshMachines(
          `${name}-machines`,
          { hosts: config.sshHosts, privateKey },
          opts,
        ).machines;
        return { machines, sshPrivateKey: privateKey };
      }
      case "aws": {
        const awsConfig = this.driverConfig("aws", config.aws);
        const sshKey = this.cloudKey(name, args, awsConfig.publicKey);
        const machines = new AwsMachines(
          `${name}-machines`,
          { ...common, config: awsConfig, dockerApiPort: config.engine.tlsPort, sshKey },
          opts,
        ).machines;
        return { machines, sshPrivateKey: pulumi.secret(pulumi.output(sshKey.privateKey)) };
      }
      case "aliyun": {
        const aliyunConfig = this.driverConfig("aliyun", config.aliyun);
        const sshKey = this.cloudKey(name, args, aliyunConfig.publicKey);
        const machines = new AliyunMachines(
          `${name}-machines`,
          { ...common, config: aliyunConfig, dockerApiPort: config.engine.tlsPort, sshKey },
          opts,
        ).machines;
        return { machines, sshPrivateKey: pulumi.secret(pulumi.output(sshKey.privateKey)) };
      }
      case "virtualbox": {
        const sshKey = this.environmentKey(name, args);
        const machines = new VirtualBoxMachines(
          `${name}-machines`,
          { ...common, config: this.driverConfig("virtualbox", config.virtualbox), sshKey },
          opts,
        ).machines;
        return { machines, sshPrivateKey: pulumi.secret(pulumi.output(sshKey.privateKey)) };
      }
    }
  }

  /** The key pair dockfleet generates for the environment (the private key a secret). */
  private environmentKey(name: string, args: EnvironmentArgs) {
    const keyPair = new SshKeyPair(
      `${name}-ssh-key`,
      { comment: `dockfleet-${args.stack}` },
      { parent: this },
    );
    return { publicKey: keyPair.publicKey, privateKey: pulumi.secret(keyPair.privateKey) };
  }

  /** Cloud drivers: the user's own public key (with dockfleet:sshPrivateKey), or the generated one. */
  private cloudKey(name: string, args: EnvironmentArgs, publicKey: string | undefined) {
    if (publicKey === undefined) return this.environmentKey(name, args);
    return {
      publicKey: pulumi.output(publicKey),
      privateKey: this.givenPrivateKey(`${args.config.driver}.publicKey`, args),
    };
  }

  private givenPrivateKey(who: string, args: EnvironmentArgs): pulumi.Output<string> {
    if (args.sshPrivateKey === undefined) {
      throw new pulumi.ResourceError(
        `${who} needs a private key: \`pulumi config set --secret dockfleet:sshPrivateKey ` +
          "< ~/.ssh/id_ed25519`",
        this,
      );
    }
    return pulumi.secret(pulumi.output(args.sshPrivateKey));
  }

  /** A driver's settings; the schema already refuses a stack without them. */
  private driverConfig<T>(driver: string, value: T | undefined): T {
    if (value === undefined) {
      throw new pulumi.ResourceError(
        `dockfleet:${driver} is required when driver is "${driver}"`,
        this,
      );
    }
    return value;
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
