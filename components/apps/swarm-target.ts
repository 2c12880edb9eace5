import * as pulumi from "@pulumi/pulumi";
import { AppImagePush } from "../../provision/providers/app-image-push";
import type { Machine } from "../machines/machine";

/**
 * The few things the apps need from a swarm: SwarmCluster has these fields (pass the cluster
 * itself). The stacks are deployed over SSH on `manager`, once `ready` resolves.
 */
export interface AppsSwarm {
  /** A manager of the swarm (the first one). */
  manager: Machine;
  /** Resolves once every node has joined (its value changes when the swarm is re-formed). */
  ready: pulumi.Input<string>;
}

/**
 * The few things the apps need from a private registry (PrivateRegistry: url, username,
 * password and its CA's certificate). Every engine must already trust the registry's CA.
 */
export interface AppsRegistry {
  /** host:port, as the nodes reach it. */
  url: pulumi.Input<string>;
  username: pulumi.Input<string>;
  /** A Pulumi secret. */
  password: pulumi.Input<string>;
  /** PEM of the CA that signed the registry's certificate (this machine verifies it on push). */
  caPem: pulumi.Input<string>;
}

/**
 * The reference a stack deploys for one image: with a registry and pushing on, the image is
 * copied from this machine's engine into the registry and deployed by digest; else as written.
 */
export function deployedImage(
  name: string,
  source: string,
  registry: AppsRegistry | undefined,
  pushImages: boolean,
  logUrn: pulumi.Input<string>,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  if (registry === undefined || !pushImages) return pulumi.output(source);
  const pushed = new AppImagePush(
    name,
    {
      source,
      registryUrl: registry.url,
      username: registry.username,
      password: registry.password,
      caPem: registry.caPem,
      logUrn,
    },
    { parent },
  );
  return pushed.reference;
}

/** The registry login a stack deploy uses (secret), or undefined without a registry. */
export function registryLogin(registry: AppsRegistry | undefined) {
  if (registry === undefined) return undefined;
  return pulumi.secret(
    pulumi
      .all([registry.url, registry.username, registry.password])
      .apply(([url, username, password]) => ({ url, username, password })),
  );
}
