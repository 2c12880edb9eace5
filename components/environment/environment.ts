import * as pulumi from "@pulumi/pulumi";
import { Certificate } from "../../provision/providers/certificate";
import { SshKeyPair } from "../../provision/providers/ssh-key-pair";
import { DockerEngine } from "../engine/docker-engine";
import { LocalMachines } from "../machines/local";
import type { Machine } from "../machines/machine";
import { SshMachines } from "../machines/ssh";
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

    if (config.driver === "local") {
      if (args.hostImage === undefined) {
        throw new pulumi.ResourceError(
          "the local driver needs the host image: run `npm run up` (bin/up builds it), " +
            "or set DOCKFLEET_HOST_IMAGE to the tag printed by bin/lib/host-image.sh",
          this,
        );
      }
      const keyPair = new SshKeyPair(
        `${name}-ssh-key`,
        { comment: `dockfleet-${args.stack}` },
        { parent: this },
      );
      this.sshPrivateKey = pulumi.secret(keyPair.privateKey);
      this.machines = new LocalMachines(
        `${name}-machines`,
        {
          stack: args.stack,
          count: config.hosts,
          namePrefix: config.namePrefix,
          subnet: config.local.subnet,
          image: args.hostImage,
          sshKey: { publicKey: keyPair.publicKey, privateKey: keyPair.privateKey },
        },
        { parent: this },
      ).machines;
    } else {
      if (args.sshPrivateKey === undefined) {
        throw new pulumi.ResourceError(
          "the ssh driver needs a private key: `pulumi config set --secret dockfleet:sshPrivateKey " +
            "< ~/.ssh/id_ed25519`",
          this,
        );
      }
      this.sshPrivateKey = pulumi.secret(pulumi.output(args.sshPrivateKey));
      this.machines = new SshMachines(
        `${name}-machines`,
        { hosts: config.sshHosts, privateKey: args.sshPrivateKey },
        { parent: this },
      ).machines;
    }

    // Hosts are independent: their engines install in parallel.
    this.engines = this.machines.map(
      (machine) =>
        new DockerEngine(
          `${name}-${machine.name}-engine`,
          { machine, config: config.engine, ca: caPair },
          { parent: this },
        ),
    );
    this.registerOutputs({});
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
}
