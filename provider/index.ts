import * as pulumi from "@pulumi/pulumi";
import { type EngineConfigInput } from "../components/engine/config";
import { DockerHost as LibraryDockerHost } from "../components/engine/docker-host";
import { Certificate } from "../provision/pki/certificate";

/**
 * The components dockfleet serves as a Pulumi component package (plugin.cjs), for Pulumi YAML
 * and the other languages. Pulumi infers their schema from this file, and its inference takes
 * strings, numbers, booleans, arrays, maps, interfaces and Inputs/Outputs of them: not the
 * library's unions and zod-made types. So each component here is a thin one with plain
 * arguments around the library's.
 */

/** One host you already have, reached over SSH, made a Docker host. */
export interface DockerHostArgs {
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
  /** PEM of the CA that signs the engine's certificates. Default: a CA of this host's own. */
  caCertPem?: pulumi.Input<string>;
  /** The CA's private key (a secret), with caCertPem. */
  caKeyPem?: pulumi.Input<string>;
  /** Where Docker comes from: "distro" (docker.io), "docker-ce" or "mirror". Default: distro. */
  source?: string;
  /** With source "mirror": a preset (aliyun, tuna, ustc) or a docker-ce mirror's base URL. */
  mirrorUrl?: string;
  /** Registry mirrors for Docker Hub pulls (daemon.json registry-mirrors). */
  registryMirrors?: string[];
  /** Registries reached over plain HTTP (daemon.json insecure-registries). */
  insecureRegistries?: string[];
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
    const ca =
      args.caCertPem !== undefined && args.caKeyPem !== undefined
        ? { certPem: args.caCertPem, keyPem: args.caKeyPem }
        : new Certificate(`${name}-ca`, { kind: "ca", commonName: `${name} CA` }, { parent: this });
    const host = new LibraryDockerHost(
      name,
      {
        address: args.address,
        privateAddress: args.privateAddress,
        port: args.port,
        user: args.user,
        privateKey: args.privateKey,
        hostKey: args.hostKey,
        ca: { certPem: ca.certPem, keyPem: ca.keyPem },
        engine: {
          // A plain string in the schema; resolveEngineConfig refuses any other value, naming it.
          source: args.source as EngineConfigInput["source"],
          mirrorUrl: args.mirrorUrl,
          registryMirrors: args.registryMirrors,
          insecureRegistries: args.insecureRegistries,
        },
      },
      { parent: this },
    );
    const client = new Certificate(
      `${name}-client-cert`,
      {
        kind: "client",
        commonName: `${name}-client`,
        ca: { certPem: ca.certPem, keyPem: ca.keyPem },
      },
      { parent: this },
    );
    this.dockerHost = host.dockerHost;
    this.caCertPem = pulumi.output(ca.certPem);
    this.clientCertPem = client.certPem;
    this.clientKeyPem = pulumi.secret(client.keyPem);
    this.registerOutputs({
      dockerHost: this.dockerHost,
      caCertPem: this.caCertPem,
      clientCertPem: this.clientCertPem,
      clientKeyPem: this.clientKeyPem,
    });
  }
}
