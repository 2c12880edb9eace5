import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/dynamic/log";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { secretNamePlaceholder } from "./resources/swarm-stack";
import { DATABASE_PASSWORD_SECRET, renderWordPressStackFile } from "./plan";
import { type WordPressConfigInput, resolveWordPressConfig } from "./config";
import { deployAppStack, type AppDeploymentArgs } from "./swarm-target";

export interface WordPressAppArgs extends AppDeploymentArgs {
  /**
   * The `dockfleet:apps` wordpress settings (see docs/components/apps.md), defaults applied here by
   * resolveWordPressConfig; `enabled` is not read here. @default {}
   */
  settings?: WordPressConfigInput;
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
    const settings = resolveOrFail(this, () => resolveWordPressConfig(args.settings));
    const { stack, images } = deployAppStack(
      name,
      args,
      {
        stackName: settings.stackName,
        images: { wordpress: settings.wordpressImage, database: settings.databaseImage },
        renderStackFile: ({ wordpress, database }, publishMode) =>
          renderWordPressStackFile({
            wordpressImage: wordpress,
            databaseImage: database,
            port: settings.port,
            publishMode,
            passwordSecretName: secretNamePlaceholder(DATABASE_PASSWORD_SECRET),
            databaseConstraints: settings.databaseConstraints,
          }),
        secrets: { [DATABASE_PASSWORD_SECRET]: args.databasePassword ?? "" },
      },
      logUrnOf(this),
      this,
    );
    this.stackName = settings.stackName;
    this.url = pulumi.interpolate`http://${args.swarm.manager.publicAddress}:${settings.port}/`;
    this.installUrl = pulumi.interpolate`${this.url}wp-admin/install.php`;
    this.images = images;
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
