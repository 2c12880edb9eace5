import * as pulumi from "@pulumi/pulumi";
import type { EngineConfigInput } from "../components/engine/config";
import type { CertificatePair } from "../components/engine/docker-engine";
import { Certificate } from "../provision/pki/certificate";

/**
 * What every served component takes for the hosts it makes Docker hosts of, and the CA and client
 * certificate it hands Docker clients: shared by DockerHost and SwarmCluster.
 */

/** Where Docker comes from and how it pulls: what DockerHost and SwarmCluster take for every host. */
export interface EngineArgs {
  /** Where Docker comes from: "distro" (docker.io), "docker-ce" or "mirror". Default: distro. */
  source?: string;
  /** With source "mirror": a preset (aliyun, tuna, ustc) or a docker-ce mirror's base URL. */
  mirrorUrl?: string;
  /** Registry mirrors for Docker Hub pulls (daemon.json registry-mirrors). */
  registryMirrors?: string[];
  /** Registries reached over plain HTTP (daemon.json insecure-registries). */
  insecureRegistries?: string[];
}

/** The CA that signs the engines' certificates, when the program brings its own. */
export interface CaArgs {
  /** PEM of the CA that signs the engines' certificates. Default: a CA of this component's own. */
  caCertPem?: pulumi.Input<string>;
  /** The CA's private key (a secret), with caCertPem. */
  caKeyPem?: pulumi.Input<string>;
}

/** Pure: the library's engine settings for these arguments (resolveEngineConfig checks them). */
export function engineConfigOf(args: EngineArgs): EngineConfigInput {
  return {
    // A plain string in the schema; resolveEngineConfig refuses any other value, naming it.
    source: args.source as EngineConfigInput["source"],
    mirrorUrl: args.mirrorUrl,
    registryMirrors: args.registryMirrors,
    insecureRegistries: args.insecureRegistries,
  };
}

/** The CA the engines' certificates come from, and one client certificate it signs. */
export interface ClientAccess {
  ca: CertificatePair;
  caCertPem: pulumi.Output<string>;
  clientCertPem: pulumi.Output<string>;
  /** A secret. */
  clientKeyPem: pulumi.Output<string>;
}

/**
 * The program's CA (caCertPem + caKeyPem) or a new one of the component's own, and a client
 * certificate from it, so that the program can hand Docker clients what they need.
 */
export function createClientAccess(
  name: string,
  args: CaArgs,
  parent: pulumi.Resource,
): ClientAccess {
  const pair =
    args.caCertPem !== undefined && args.caKeyPem !== undefined
      ? { certPem: args.caCertPem, keyPem: args.caKeyPem }
      : new Certificate(`${name}-ca`, { kind: "ca", commonName: `${name} CA` }, { parent });
  const ca = { certPem: pair.certPem, keyPem: pair.keyPem };
  const client = new Certificate(
    `${name}-client-cert`,
    { kind: "client", commonName: `${name}-client`, ca },
    { parent },
  );
  return {
    ca,
    caCertPem: pulumi.output(pair.certPem),
    clientCertPem: client.certPem,
    clientKeyPem: pulumi.secret(client.keyPem),
  };
}
