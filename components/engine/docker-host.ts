import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";
import { hostAddress } from "../../provision/config/fields";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { type EngineConfigInput, resolveEngineConfig } from "./config";
import type { Machine } from "../machines/machine";
import { SshMachines } from "../machines/ssh/ssh-machines";
import { type CertificatePair, DockerEngine } from "./docker-engine";

export interface DockerHostArgs {
  /**
   * Address the host is reached at over SSH and by Docker clients: an IP address or a DNS name
   * (the server certificate then carries it as a DNS SAN).
   */
  address: string;
  /** Address other hosts reach it at (an IP address where a swarm, etcd or registry uses it). @default address */
  privateAddress?: string;
  /** @default 22 */
  port?: number;
  /** @default "root" */
  user?: string;
  /** The private key that logs in (a Pulumi secret). */
  privateKey: pulumi.Input<string>;
  /** The host's public key ("ssh-ed25519 AAAA..."). @default the key seen on first contact, pinned */
  hostKey?: string;
  /** The CA that signs the engine's server certificate. */
  ca: CertificatePair;
  /** Package source, mirrors, daemon options: the `dockfleet:engine` keys. @default distro docker.io */
  engine?: EngineConfigInput;
  labels?: Record<string, string>;
}

/** The addresses as the ssh driver's hosts take them (an IP address or a DNS name). */
const DockerHostAddresses = z.object({
  address: hostAddress,
  privateAddress: hostAddress.optional(),
});

/**
 * One host you already have, made a Docker host in one step: what `docker-machine create
 * --driver generic` did. Its host key is pinned, Docker installed and its API put behind TLS.
 */
export class DockerHost extends pulumi.ComponentResource {
  readonly machine: Machine;
  readonly engine: DockerEngine;
  /** tcp://<address>:2376 */
  readonly dockerHost: pulumi.Output<string>;

  constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:engine:DockerHost", name, {}, opts);
    // Checked before anything is created: a bad setting registers no machine.
    const engine = resolveOrFail(this, () => {
      resolveConfig(DockerHostAddresses, args, "", `DockerHost ${name} args`);
      return resolveEngineConfig(args.engine);
    });
    [this.machine] = new SshMachines(
      `${name}-machine`,
      {
        hosts: [
          {
            name,
            address: args.address,
            privateAddress: args.privateAddress,
            port: args.port ?? 22,
            user: args.user ?? "root",
            hostKey: args.hostKey,
            labels: args.labels ?? {},
          },
        ],
        privateKey: args.privateKey,
      },
      { parent: this },
    ).machines;
    this.engine = new DockerEngine(
      `${name}-engine`,
      { machine: this.machine, config: engine, ca: args.ca },
      { parent: this },
    );
    this.dockerHost = this.engine.dockerHost;
    this.registerOutputs({ dockerHost: this.dockerHost });
  }
}
