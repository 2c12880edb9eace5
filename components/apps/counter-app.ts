import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/dynamic/log";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { renderCounterStackFile } from "./plan";
import { type CounterConfigInput, resolveCounterConfig } from "./config";
import { deployAppStack, type AppDeploymentArgs } from "./swarm-target";

export interface CounterAppArgs extends AppDeploymentArgs {
  /**
   * The `dockfleet:apps` counter settings (see docs/components/apps.md), defaults applied here by
   * resolveCounterConfig; `enabled` is not read here. @default {}
   */
  settings?: CounterConfigInput;
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
    const settings = resolveOrFail(this, () => resolveCounterConfig(args.settings));
    const { stack, images } = deployAppStack(
      name,
      args,
      {
        stackName: settings.stackName,
        images: { web: settings.webImage, redis: settings.redisImage },
        renderStackFile: ({ web, redis }, publishMode) =>
          renderCounterStackFile({
            webImage: web,
            redisImage: redis,
            port: settings.port,
            publishMode,
            replicas: settings.replicas,
          }),
      },
      logUrnOf(this),
      this,
    );
    this.stackName = settings.stackName;
    this.url = pulumi.interpolate`http://${args.swarm.manager.publicAddress}:${settings.port}/`;
    this.images = images;
    this.services = stack.services;
    this.registerOutputs({ url: this.url, images: this.images, services: this.services });
  }
}
