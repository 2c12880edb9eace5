import * as pulumi from "@pulumi/pulumi";
import { AppImagePush } from "./resources/app-image-push";
import { SwarmStack } from "./resources/swarm-stack";
import type { PublishMode } from "./plan";
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

/** Where and how a sample app is deployed: what CounterApp and WordPressApp take alike. */
export interface AppDeploymentArgs {
  /** The swarm to deploy on (a SwarmCluster, or anything with its manager and ready). */
  swarm: AppsSwarm;
  /** The private registry the images are pushed to and pulled from. @default none: images as written */
  registry?: AppsRegistry;
  /** Push the images from this machine's engine into `registry`. @default true */
  pushImages?: boolean;
  /** Routing mesh or one task per node binding the port (`dockfleet:apps` publishMode). @default "ingress" */
  publishMode?: PublishMode;
}

/** One sample app's stack: its images by role, and how its stack file is rendered from them. */
export interface AppStackSpec<Role extends string> {
  stackName: string;
  /** The image of each role as configured ({ web: "...", redis: "..." }): "<name>-<role>-image". */
  images: Record<Role, string>;
  /** The stack file, given the references deployed for each role and the publish mode. */
  renderStackFile: (images: Record<Role, string>, publishMode: PublishMode) => string;
  /** The stack's swarm secrets (SwarmStack `secrets`). @default none */
  secrets?: Record<string, pulumi.Input<string>>;
}

/**
 * Deploys a sample app as children of `parent`: each image pushed into the registry (unless
 * pushImages is off or there is none), then the stack "<name>-stack" on the swarm's manager.
 */
export function deployAppStack<Role extends string>(
  name: string,
  args: AppDeploymentArgs,
  spec: AppStackSpec<Role>,
  logUrn: pulumi.Input<string>,
  parent: pulumi.Resource,
): { stack: SwarmStack; images: pulumi.Output<Record<Role, string>> } {
  const pushImages = args.pushImages ?? true;
  const publishMode = args.publishMode ?? "ingress";
  const deployed = {} as Record<Role, pulumi.Output<string>>;
  for (const role of Object.keys(spec.images) as Role[]) {
    deployed[role] = deployedImage(
      `${name}-${role}-image`,
      spec.images[role],
      args.registry,
      pushImages,
      logUrn,
      parent,
    );
  }
  const images = pulumi.all(deployed) as pulumi.Output<Record<Role, string>>;
  const manager = args.swarm.manager;
  const stack = new SwarmStack(
    `${name}-stack`,
    {
      host: manager.name,
      connection: manager.ssh,
      logUrn,
      stackName: spec.stackName,
      stackFile: images.apply((references) => spec.renderStackFile(references, publishMode)),
      ...(spec.secrets === undefined ? {} : { secrets: spec.secrets }),
      registry: registryLogin(args.registry),
      swarmReady: args.swarm.ready,
      requiresIpvs: publishMode === "ingress",
    },
    { parent },
  );
  return { stack, images };
}
