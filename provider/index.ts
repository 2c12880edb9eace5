import * as pulumi from "@pulumi/pulumi";
import { DockerHost as LibraryDockerHost } from "../components/engine/docker-host";
import { type CaArgs, createClientAccess, type EngineArgs, engineConfigOf } from "./host-args";

export { SwarmCluster } from "./swarm-cluster";

/**
 * The components dockfleet serves as a Pulumi component package (plugin.cjs), for Pulumi YAML
 * and the other languages. Pulumi infers their schema from this file and the files it imports
 * (swarm-cluster.ts), and its inference takes strings, numbers, booleans, arrays, maps,
 * interfaces and Inputs/Outputs of them: not the library's unions and zod-made types. So each
 * component here is a thin one with plain arguments around the library's.
 */

/** One host you already have, reached over SSH, made a Docker host. */
export interface DockerHostArgs extends EngineArgs, CaArgs {
  /** Address the host is reached at over SSH and by Docker clients: an IP address or a DNS name. */
  address: string;
  /** Address other hosts reach it at. Default: address. */
  privateAddress?: string;
  /** SSH port. Default: 22. */
  port?: number;
  /** SSH user (root, or one with password-less sudo). Default: root. */
  user?: string;
  /** The private key that logs in (OpenSSH or PEM): pass it as a secret. */
  privateKey: pulumi.Input<string>;
  /** The host's public key ("ssh-ed25519 AAAA..."). Default: the key seen on first contact, pinned. */
  hostKey?: string;
}

/**
 * dockfleet's DockerHost (what `docker-machine create --driver generic` did): the host key
 * pinned, Docker installed and its API on 2376 behind TLS with client certificates. Also issues
 * one client certificate, so that the program can hand Docker clients what they need.
 */
export class DockerHost extends pulumi.ComponentResource {
  /** tcp://<address>:2376, for DOCKER_HOST. */
  readonly dockerHost: pulumi.Output<string>;
  /** PEM of the CA clients check the engine with (DOCKER_CERT_PATH's ca.pem). */
  readonly caCertPem: pulumi.Output<string>;
  /** A client certificate the engine accepts (cert.pem). */
  readonly clientCertPem: pulumi.Output<string>;
  /** Its private key, a secret (key.pem). */
  readonly clientKeyPem: pulumi.Output<string>;

  constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:index:DockerHost", name, {}, opts);
    const access = createClientAccess(name, args, this);
    const host = new LibraryDockerHost(
      name,
      {
        address: args.address,
        privateAddress: args.privateAddress,
        port: args.port,
        user: args.user,
        privateKey: args.privateKey,
        hostKey: args.hostKey,
        ca: access.ca,
        engine: engineConfigOf(args),
      },
      { parent: this },
    );
    this.dockerHost = host.dockerHost;
    this.caCertPem = access.caCertPem;
    this.clientCertPem = access.clientCertPem;
    this.clientKeyPem = access.clientKeyPem;
    this.registerOutputs({
      dockerHost: this.dockerHost,
      caCertPem: this.caCertPem,
      clientCertPem: this.clientCertPem,
      clientKeyPem: this.clientKeyPem,
    });
  }
}
