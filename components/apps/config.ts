import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";

/**
 * `dockfleet:apps` stack config: which sample apps run on the swarm, from which images, on which
 * published ports. Every default lives here; CounterApp and WordPressApp resolve their settings
 * with resolveCounterConfig and resolveWordPressConfig.
 */

/** An image reference as Docker accepts it: [registry/]repository[:tag][@digest]. */
const imageReference = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:]*[a-z0-9](:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/, {
    message:
      'must be an image reference such as "dockfleet/apps-counter:latest" or "registry.example.com:5000/team/web:1.2"',
  });

/** A swarm stack name: Docker prefixes every service, network and volume of the stack with it. */
const stackName = z.string().regex(/^[a-z][a-z0-9_-]{0,30}$/, {
  message: 'must be a stack name: 1-31 characters of a-z, 0-9, "_" and "-", starting with a letter',
});

const publishedPort = z.int().min(1).max(65535);

export const CounterConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Deploy the visit counter at all."),
  stackName: stackName
    .default("counter")
    .describe('The swarm stack\'s name (prefix of its services: "<name>_web", "<name>_redis").'),
  port: publishedPort
    .default(8000)
    .describe("Port published on every node (the web service listens on 5000)."),
  replicas: z
    .int()
    .min(1)
    .max(32)
    .default(3)
    .describe(
      "Replicas of the web service, spread over the nodes (one Redis replica holds " +
        'the count). Ignored with publishMode "host", which runs one web task per node.',
    ),
  webImage: imageReference
    .default("dockfleet/apps-counter:latest")
    .describe("Flask web app image (provision/images/apps/counter)."),
  redisImage: imageReference
    .default("dockfleet/apps-redis:latest")
    .describe("Redis image (provision/images/apps/redis)."),
});

export const WordPressConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Deploy WordPress at all."),
  stackName: stackName
    .default("wordpress")
    .describe('The swarm stack\'s name (prefix of its services: "<name>_wordpress", "<name>_db").'),
  port: publishedPort
    .default(8080)
    .describe("Port published on every node (Apache listens on 80)."),
  wordpressImage: imageReference
    .default("dockfleet/apps-wordpress:latest")
    .describe("WordPress (Apache + mod_php) image (provision/images/apps/wordpress)."),
  databaseImage: imageReference
    .default("dockfleet/apps-mariadb:latest")
    .describe(
      "MariaDB image (provision/images/apps/mariadb); it reads its password from the " + "secret.",
    ),
  databaseConstraints: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Swarm placement constraints of the database (e.g. ["node.hostname == ' +
        'host-1"]): its volume lives on the node that runs it, so pinning it keeps the ' +
        "data across reschedules.",
    ),
});

export const AppsConfigSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe(
      "Deploy the sample apps (off unless true; they need the swarm, and the registry " +
        "when pushImages).",
    ),
  pushImages: z
    .boolean()
    .default(true)
    .describe(
      "Copy each image from this machine's Docker engine into the private registry " +
        "(skopeo) and deploy it from there by digest, so every node can pull it. false: " +
        "the nodes pull the image references as written (images already in a registry " +
        "every node reaches).",
    ),
  publishMode: z
    .enum(["ingress", "host"])
    .default("ingress")
    .describe(
      'How the web services publish their ports on every node. "ingress": the swarm ' +
        'routing mesh (needs IPVS in the hosts\' kernel). "host": each node runs one web ' +
        "task that binds the port itself (`mode: global`), for kernels without IPVS, " +
        "such as this project's test machines.",
    ),
  counter: CounterConfigSchema.default(CounterConfigSchema.parse({})),
  wordpress: WordPressConfigSchema.default(WordPressConfigSchema.parse({})),
});

export type CounterConfig = z.infer<typeof CounterConfigSchema>;
export type WordPressConfig = z.infer<typeof WordPressConfigSchema>;
export type AppsConfig = z.infer<typeof AppsConfigSchema>;
/** What CounterApp's `settings` accepts: any subset of the `dockfleet:apps` counter keys. */
export type CounterConfigInput = z.input<typeof CounterConfigSchema>;
/** What WordPressApp's `settings` accepts: any subset of the `dockfleet:apps` wordpress keys. */
export type WordPressConfigInput = z.input<typeof WordPressConfigSchema>;
export type AppsConfigInput = z.input<typeof AppsConfigSchema>;

/**
 * Apply every default and check of one sample app's settings (the same schemas as
 * `dockfleet:apps`). Pure; throw a ConfigError naming each bad key under `keyPrefix`, its value
 * and what is allowed. A resolved config resolves to an equal one.
 */
export function resolveCounterConfig(
  input: CounterConfigInput = {},
  keyPrefix = "dockfleet:apps.counter",
): CounterConfig {
  return resolveConfig(CounterConfigSchema, input, keyPrefix, "counter app config");
}

export function resolveWordPressConfig(
  input: WordPressConfigInput = {},
  keyPrefix = "dockfleet:apps.wordpress",
): WordPressConfig {
  return resolveConfig(WordPressConfigSchema, input, keyPrefix, "wordpress app config");
}
