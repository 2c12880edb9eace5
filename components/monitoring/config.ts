import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";
import { hostName } from "../../provision/config/fields";

/**
 * The `dockfleet:monitoring` stack config: Prometheus on one host, a node exporter on every host,
 * Docker's own metrics endpoint on every engine. Every default lives here.
 */

/** A Prometheus duration as the config file takes it: "15s", "1m", "2h", "15d". */
const duration = (example: string) =>
  z.string().regex(/^[1-9][0-9]*(ms|s|m|h|d|w|y)$/, {
    message: `must be a Prometheus duration such as "${example}" (a whole number and ms, s, m, h, d, w or y)`,
  });

const port = (fallback: number) => z.int().min(1).max(65535).default(fallback);

export const MonitoringConfigSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe(
      "Turns monitoring on (needs `dockfleet:registry`: Prometheus's image comes from it).",
    ),
  host: hostName
    .optional()
    .describe("Name of the host that runs Prometheus; unset: the registry's host."),
  port: port(9090).describe(
    "Prometheus's port (web UI and API, basic auth), on the host's private address only.",
  ),
  nodeExporterPort: port(9100).describe(
    "The node exporter's port on every host, on the host's private address only (basic auth).",
  ),
  engineMetricsPort: port(9323).describe(
    "Docker's metrics endpoint (daemon.json `metrics-addr`) on every host's private address.",
  ),
  registryMetricsPort: port(5001).describe(
    "The registry's metrics (its debug listener), on its host's private address, with the " +
      "registry on.",
  ),
  scrapeInterval: duration("15s").default("15s").describe("How often every target is scraped."),
  evaluationInterval: duration("15s")
    .default("15s")
    .describe("How often the alert rules are evaluated."),
  hostDownFor: duration("1m")
    .default("1m")
    .describe("How long a host's node exporter must be unreachable before HostDown fires."),
  diskFullPercent: z
    .int()
    .min(50)
    .max(99)
    .default(90)
    .describe("DiskAlmostFull fires when a host's file system is fuller than this (percent)."),
  retention: duration("15d").default("15d").describe("How long Prometheus keeps samples."),
  username: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, {
      message: "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
    })
    .default("admin")
    .describe("User of the web UI's basic auth."),
  password: z
    .string()
    .min(8, { message: "must be at least 8 characters" })
    .optional()
    .describe(
      "Its password (`pulumi config set --secret --path dockfleet:monitoring.password`); " +
        "unset: generated. Either way the stack output `monitoring.password` (a secret).",
    ),
});

export type MonitoringConfig = z.infer<typeof MonitoringConfigSchema>;
/** What MonitoringConfigSchema accepts: every key optional. */
export type MonitoringConfigInput = z.input<typeof MonitoringConfigSchema>;

/**
 * Applies every default and check of the monitoring config (the same schema as
 * `dockfleet:monitoring`). Pure; throws a ConfigError naming each bad key under `keyPrefix`.
 */
export function resolveMonitoringConfig(
  input: MonitoringConfigInput = {},
  keyPrefix = "dockfleet:monitoring",
): MonitoringConfig {
  return resolveConfig(MonitoringConfigSchema, input, keyPrefix, "monitoring config");
}
