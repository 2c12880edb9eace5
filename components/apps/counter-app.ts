import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/providers/log";
import { type PublishMode } from "../../provision/render/stack-files";
import { SwarmStack } from "../../provision/providers/swarm-stack";
import { renderCounterStackFile } from "../../provision/render/stack-files";
import { CounterConfigSchema, type CounterConfig } from "./config";
import { deployedImage, registryLogin, type AppsRegistry, type AppsSwarm } from "./swarm-target";

export interface CounterAppArgs {
  /** The swarm to deploy on (a SwarmCluster, or anything with its manager and ready). */
  swarm: AppsSwarm;
  /** The private registry the images are pushed to and pulled from. @default none: images as written */
  registry?: AppsRegistry;
  /** Push the images from this machine's engine into `registry`. @default true */
  pushImages?: boolean;
  /** Routing mesh or one task per node binding the port (`dockfleet:apps` publishMode). @default "ingress" */
  publishMode?: PublishMode;
  /** `dockfleet:apps` counter settings; unset fields take the schema's defaults. */
  settings?: Partial<CounterConfig>;
}

/**
 * The visit counter of the classic Docker tutorials as a swarm stack: Flask web replicas spread
 * over the nodes behind a port published on every node (routing mesh), and Redis with a volume.
 */
export class CounterApp extends pulumi.ComponentResource {
  /** http://<manager>:<port>/ (every node answers on the port). */
  readonly url: pulumi.Output<string>;
  readonly stackName: string;
  /** The image references deployed (by digest when pushed). */
  readonly images: pulumi.Output<{ web: string; redis: string }>;
  readonly services: pulumi.Output<string[]>;

  constructor(name: string, args: CounterAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:apps:CounterApp", name, {}, opts);
    const settings: CounterConfig = CounterConfigSchema.parse(args.settings ?? {});
    const pushImages = args.pushImages ?? true;
    const publishMode = args.publishMode ?? "ingress";
    const logUrn = logUrnOf(this);
    const web = deployedImage(
      `${name}-web-image`,
      settings.webImage,
      args.registry,
      pushImages,
      logUrn,
      this,
    );
    const redis = deployedImage(
      `${name}-redis-image`,
      settings.redisImage,
      args.registry,
      pushImages,
      logUrn,
      this,
    );
    const manager = args.swarm.manager;
    const stack = new SwarmStack(
      `${name}-stack`,
      {
        host: manager.name,
        connection: manager.ssh,
        logUrn,
        stackName: settings.stackName,
        stackFile: pulumi.all([web, redis]).apply(([webImage, redisImage]) =>
          renderCounterStackFile({
            webImage,
            redisImage,
            port: settings.port,
            publishMode,
            replicas: settings.replicas,
          }),
        ),
        registry: registryLogin(args.registry),
        swarmReady: args.swarm.ready,
        requiresIpvs: publishMode === "ingress",
      },
      { parent: this },
    );
    this.stackName = settings.stackName;
    this.url = pulumi.interpolate`http://${manager.publicAddress}:${settings.port}/`;
    this.images = pulumi
      .all([web, redis])
      .apply(([webRef, redisRef]) => ({ web: webRef, redis: redisRef }));
    this.services = stack.services;
    this.registerOutputs({ url: this.url, images: this.images, services: this.services });
  }
}
