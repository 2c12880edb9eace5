import { z } from "zod";

/**
 * An HTTP(S) proxy between the hosts and the outside (`dockfleet:proxy`): the only way out of many
 * corporate and Chinese networks. Every remote step runs with the usual variables (apt, dnf, curl
 * and etcdctl read them), and dockerd reads them from a 0600 file its drop-in names (its pulls).
 * The environment's own addresses and loopback are always in NO_PROXY, so the registry, the
 * swarm, etcd and the Docker API are reached directly.
 */

const proxyUrl = (example: string) =>
  z.string().superRefine((value, ctx) => {
    if (!/^https?:\/\/[^\s/"'`$\\]+\/?$/.test(value) || !URL.canParse(value)) {
      ctx.addIssue({
        code: "custom",
        message:
          `must be an http(s) URL of the proxy itself, without a path, e.g. "${example}" ` +
          '(credentials as "http://user:password@host:port", special characters percent-encoded, ' +
          "set with `pulumi config set --secret --path`)",
      });
    }
  });

/** One NO_PROXY entry: a host name, a domain (".example.com"), an IPv4 address or CIDR. */
const noProxyEntry = z
  .string()
  .regex(/^(\.?[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?)(\/\d{1,2})?$/, {
    message:
      'must be a host name, a domain (".corp.example.com"), an IP address or a CIDR, e.g. "10.0.0.0/8"',
  });

/** The stack key `dockfleet:proxy`. */
export const ProxyConfigSchema = z
  .strictObject({
    http: proxyUrl("http://proxy.example.com:3128").describe(
      "Proxy for http:// requests (HTTP_PROXY). Credentials in the URL make it a secret: set it " +
        "with `pulumi config set --secret --path dockfleet:proxy.http`.",
    ),
    https: proxyUrl("http://proxy.example.com:3128")
      .optional()
      .describe("Proxy for https:// requests (HTTPS_PROXY); @default http"),
    noProxy: z
      .array(noProxyEntry)
      .default([])
      .describe(
        "Further destinations reached directly (NO_PROXY); the hosts' own addresses, " +
          "localhost and 127.0.0.1 are always in it.",
      ),
  })
  .describe(
    "An HTTP(S) proxy for the hosts' package manager, dockerd's pulls and etcd downloads. Unset: none.",
  );

export type ProxyConfig = z.infer<typeof ProxyConfigSchema>;

/** Always reached directly: loopback. */
const LOOPBACK = ["localhost", "127.0.0.1", "::1"];

/**
 * Pure: the proxy variables for a host, in both spellings (apt and curl read lowercase
 * http_proxy only, other tools the uppercase one first), with the environment's addresses added to
 * NO_PROXY. Undefined without a proxy, so that no step sees an empty setting.
 */
export function renderProxyEnvironment(
  proxy: ProxyConfig | undefined,
  directAddresses: readonly string[],
): Record<string, string> | undefined {
  if (proxy === undefined) return undefined;
  const https = proxy.https ?? proxy.http;
  const noProxy = [...new Set([...LOOPBACK, ...directAddresses, ...proxy.noProxy])].join(",");
  return {
    HTTP_PROXY: proxy.http,
    http_proxy: proxy.http,
    HTTPS_PROXY: https,
    https_proxy: https,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}

/**
 * Pure: a systemd EnvironmentFile (KEY=value lines, values double-quoted). The values were
 * checked by the schema: no quotes, backslashes or newlines can reach here; refused if they do.
 */
export function renderEnvironmentFile(environment: Readonly<Record<string, string>>): string {
  return Object.keys(environment)
    .sort()
    .map((key) => {
      const value = environment[key];
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || /["\\\n$`]/.test(value)) {
        throw new Error(`renderEnvironmentFile: ${key} cannot be written to an environment file`);
      }
      return `${key}="${value}"\n`;
    })
    .join("");
}
