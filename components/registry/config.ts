import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";
import { hostDataPath, hostName, httpUrl } from "../../provision/config/fields";

/**
 * The `dockfleet:registry` stack config: a private distribution registry (v2) on one of the hosts.
 * Every default lives here.
 */

/** Pull-through cache: the registry serves (and caches) the images of an upstream registry. */
export const RegistryProxySchema = z.strictObject({
  remoteUrl: httpUrl("https://registry-1.docker.io").describe(
    'The upstream registry, e.g. "https://registry-1.docker.io" (Docker Hub) or a ' +
      "mirror of it.",
  ),
  username: z
    .string()
    .min(1)
    .optional()
    .describe("Upstream credentials, for a private upstream or Docker Hub's pull limits."),
  password: z
    .string()
    .min(1)
    .optional()
    .describe("Upstream password (set it with `pulumi config set --secret --path`)."),
  anonymousPullsOfPrivateUpstream: z
    .boolean()
    .default(false)
    .describe(
      "With authentication off and upstream credentials: lets anyone who reaches the port " +
        "pull the upstream's private images with those credentials. Refused unless set.",
    ),
});

export const RegistryConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Turns the registry on."),
    host: hostName.optional().describe("Name of the host that runs it; unset: the first host."),
    port: z
      .int()
      .min(1)
      .max(65535)
      .default(5000)
      .describe("TCP port it listens on (TLS), on every address of the host."),
    runAs: z
      .enum(["service", "container"])
      .default("service")
      .describe(
        'How it runs: "service" installs Debian\'s docker-registry package (distribution ' +
          '2.8) as an enabled systemd service; "container" runs `image` with Docker\'s ' +
          'restart policy "always".',
      ),
    image: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/, {
        message: 'must be an image reference, e.g. "registry:2"',
      })
      .default("registry:2")
      .describe(
        'Image for runAs "container": any distribution v2 image (registry:2 or a copy of it).',
      ),
    storagePath: hostDataPath("/var/lib/docker-registry")
      .default("/var/lib/docker-registry")
      .describe(
        "Host directory holding the registry's data; it survives restarts of the host " +
          "and the registry. Absolute, outside the system's directories (/etc, /usr, ...) " +
          'and /var/lib/docker, without "..".',
      ),
    username: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, {
        message: "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
      })
      .default("dockfleet")
      .describe("User of the htpasswd authentication."),
    password: z
      .string()
      .min(8, { message: "must be at least 8 characters" })
      .optional()
      .describe(
        "Its password (`pulumi config set --secret --path " +
          "dockfleet:registry.password`); unset: generated.",
      ),
    authentication: z
      .boolean()
      .default(true)
      .describe(
        "htpasswd authentication, in every mode. Docker engines send no credentials to a " +
          "registry mirror: to serve the hosts as one in pull-through mode, set it to false " +
          "(anyone who reaches the port can then pull what the upstream serves).",
      ),
    loginOnHosts: z
      .boolean()
      .default(true)
      .describe("`docker login` on every host (CLI credentials in /root/.docker/config.json)."),
    deleteEnabled: z
      .boolean()
      .default(false)
      .describe("Allow deleting manifests and blobs through the API."),
    proxy: RegistryProxySchema.optional().describe(
      "Pull-through cache mode (read-only: distribution refuses pushes in this mode).",
    ),
    removeDataOnDestroy: z
      .boolean()
      .default(false)
      .describe("On destroy, also delete storagePath (the images)."),
  })
  .superRefine((config, ctx) => {
    if (
      config.proxy &&
      (config.proxy.username === undefined) !== (config.proxy.password === undefined)
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["proxy", config.proxy.username === undefined ? "username" : "password"],
        message: "is required with proxy.username/proxy.password: give both or neither",
      });
    }
    if (
      config.proxy?.username !== undefined &&
      !config.authentication &&
      !config.proxy.anonymousPullsOfPrivateUpstream
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["authentication"],
        message:
          "is false while proxy.username/proxy.password log in to the upstream: anyone who " +
          "reaches the port would pull its private images with your credentials. Turn " +
          "authentication on, drop the upstream credentials, or set " +
          "proxy.anonymousPullsOfPrivateUpstream: true if that is what you want",
      });
    }
  });

export type RegistryConfig = z.infer<typeof RegistryConfigSchema>;
/** What RegistryConfigSchema accepts: every key optional. */
export type RegistryConfigInput = z.input<typeof RegistryConfigSchema>;
export type RegistryProxyConfig = z.infer<typeof RegistryProxySchema>;

/**
 * Applies every default and check of the registry config (the same schema as
 * `dockfleet:registry`). Pure; throws a ConfigError naming each bad key under `keyPrefix`, its
 * value (never a password) and what is allowed. A resolved config resolves to an equal one.
 */
export function resolveRegistryConfig(
  input: RegistryConfigInput = {},
  keyPrefix = "dockfleet:registry",
): RegistryConfig {
  return resolveConfig(RegistryConfigSchema, input, keyPrefix, "registry config");
}
