import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/providers/log";
import { SwarmStack, secretNamePlaceholder } from "../../provision/providers/swarm-stack";
import {
  DATABASE_PASSWORD_SECRET,
  type PublishMode,
  renderWordPressStackFile,
} from "../../provision/render/stack-files";
import { WordPressConfigSchema, type WordPressConfig } from "./config";
import { deployedImage, registryLogin, type AppsRegistry, type AppsSwarm } from "./swarm-target";

export interface WordPressAppArgs {
  /** The swarm to deploy on (a SwarmCluster, or anything with its manager and ready). */
  swarm: AppsSwarm;
  /** The private registry the images are pushed to and pulled from. @default none: images as written */
  registry?: AppsRegistry;
  /** Push the images from this machine's engine into `registry`. @default true */
  pushImages?: boolean;
  /** Routing mesh or one task per node binding the port (`dockfleet:apps` publishMode). @default "ingress" */
  publishMode?: PublishMode;
  /** `dockfleet:apps` wordpress settings; unset fields take the schema's defaults. */
  settings?: Partial<WordPressConfig>;
  /**
   * The database password (a Pulumi secret). It reaches the services only as the swarm secret
   * db_password, created from stdin. Changing it later needs a fresh database volume (MariaDB
   * reads it when it creates the database). @default generated once and kept in the state
   */
  databasePassword?: pulumi.Input<string>;
}

/**
 * WordPress (Apache + mod_php) and MariaDB as a swarm stack, each with a volume; the database
 * password is a swarm secret. The install page answers on the published port of every node.
 */
export class WordPressApp extends pulumi.ComponentResource {
  /** http://<manager>:<port>/ */
  readonly url: pulumi.Output<string>;
  /** The install page, which answers once WordPress reaches its database. */
  readonly installUrl: pulumi.Output<string>;
  readonly stackName: string;
  readonly images: pulumi.Output<{ wordpress: string; database: string }>;
  /** The database password, given or generated (a Pulumi secret). */
  readonly databasePassword: pulumi.Output<string>;
  readonly services: pulumi.Output<string[]>;

  constructor(name: string, args: WordPressAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:apps:WordPressApp", name, {}, opts);
    const settings: WordPressConfig = WordPressConfigSchema.parse(args.settings ?? {});
    const pushImages = args.pushImages ?? true;
    const publishMode = args.publishMode ?? "ingress";
    const logUrn = logUrnOf(this);
    const wordpress = deployedImage(
      `${name}-wordpress-image`,
      settings.wordpressImage,
      args.registry,
      pushImages,
      logUrn,
      this,
    );
    const database = deployedImage(
      `${name}-database-image`,
      settings.databaseImage,
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
        stackFile: pulumi.all([wordpress, database]).apply(([wordpressImage, databaseImage]) =>
          renderWordPressStackFile({
            wordpressImage,
            databaseImage,
            port: settings.port,
            publishMode,
            passwordSecretName: secretNamePlaceholder(DATABASE_PASSWORD_SECRET),
            databaseConstraints: settings.databaseConstraints,
          }),
        ),
        secrets: { [DATABASE_PASSWORD_SECRET]: args.databasePassword ?? "" },
        registry: registryLogin(args.registry),
        swarmReady: args.swarm.ready,
        requiresIpvs: publishMode === "ingress",
      },
      { parent: this },
    );
    this.stackName = settings.stackName;
    this.url = pulumi.interpolate`http://${manager.publicAddress}:${settings.port}/`;
    this.installUrl = pulumi.interpolate`${this.url}wp-admin/install.php`;
    this.images = pulumi.all([wordpress, database]).apply(([wordpressRef, databaseRef]) => ({
      wordpress: wordpressRef,
      database: databaseRef,
    }));
    this.databasePassword = pulumi.secret(
      stack.secretValues.apply((values) => values[DATABASE_PASSWORD_SECRET]),
    );
    this.services = stack.services;
    this.registerOutputs({
      url: this.url,
      installUrl: this.installUrl,
      images: this.images,
      services: this.services,
    });
  }
}
