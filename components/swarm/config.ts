import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";
import {
  cidrsOverlap,
  DOCKER_DEFAULT_LOCAL_POOLS,
  hostName,
  ipv4Network,
} from "../../provision/config/fields";

/**
 * `dockfleet:swarm` stack config: which hosts form the swarm and how. Every default lives here;
 * checks that need the environment's host names (too many managers, unknown hosts) live in
 * swarmPlanIssues (components/swarm/plan.ts), which the stack schema runs with the names and
 * planSwarm throws for a SwarmCluster used on its own.
 */

/** Docker's node label keys: letters, digits, '.', '-', '_', '/' (e.g. "dockfleet.io/zone"). */
const labelKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, {
  message: 'must be a label key of letters, digits, ".", "-", "_" and "/", e.g. "zone"',
});

const labelValue = z.string().regex(/^[^\s=]{0,255}$/, {
  message: "must be a label value without spaces or '='",
});

const nodeLabels = z.record(labelKey, labelValue);

const SwarmNodeSettingsSchema = z.strictObject({
  labels: nodeLabels
    .default({})
    .describe("Node labels for this host, on top of `labels` (this host's value wins)."),
  availability: z
    .enum(["active", "pause", "drain"])
    .default("active")
    .describe('"drain" keeps tasks off the node; "pause" stops new tasks from being placed on it.'),
});

const overlayNetworkName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, {
  message: 'must be a network name of letters, digits, "_", "." and "-", e.g. "apps"',
});

/** An overlay network's range: Docker needs room for a gateway and a few tasks, so /8 to /29. */
const ipv4Cidr = ipv4Network(8, 29, "10.20.0.0/24");

const SwarmNetworkSchema = z.strictObject({
  name: overlayNetworkName.describe(
    "The overlay network's name as services and `docker run --network` use it.",
  ),
  attachable: z
    .boolean()
    .default(true)
    .describe("Standalone containers (`docker run --network`) may join it, not only services."),
  encrypted: z
    .boolean()
    .default(false)
    .describe(
      "IPsec encryption of the VXLAN traffic between nodes (needs the kernel's xfrm " + "support).",
    ),
  subnet: ipv4Cidr
    .optional()
    .describe(
      "Subnet of the network (/8 to /29), clear of the other networks, the hosts' network and " +
        "Docker's default pools (172.17-31.0.0/16, 192.168.0.0/16); unset lets Docker pick one.",
    ),
});

export const SwarmConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Form a swarm (off unless true). Setting it back to false turns the swarm off " +
          "and keeps its settings.",
      ),
    hosts: z
      .array(hostName)
      .optional()
      .describe(
        "Hosts in the swarm, in order: the first `managers` are managers (the very " +
          "first one runs `docker swarm init`), the next `workers` are workers. @default " +
          "every host of the environment",
      ),
    managers: z
      .int()
      .min(1)
      .default(1)
      .describe(
        "How many managers. 1 is enough to try things; 3 (or 5) survive the loss of one " +
          "(or two). An even number is allowed but warned about: it adds a failure point " +
          "without adding tolerance.",
      ),
    workers: z
      .int()
      .min(0)
      .optional()
      .describe("How many workers, after the managers. @default every remaining host"),
    port: z
      .int()
      .min(1)
      .max(65535)
      .default(2377)
      .describe("Swarm port (advertise and listen), on each host's private address."),
    labels: nodeLabels.default({}).describe("Node labels on every node."),
    nodes: z
      .record(hostName, SwarmNodeSettingsSchema)
      .default({})
      .describe("Per-host node labels and availability, by host name."),
    networks: z
      .array(SwarmNetworkSchema)
      .default([])
      .describe(
        "Overlay networks to create (on a manager; they span every node that runs a " +
          "task on them).",
      ),
  })
  .superRefine((config, ctx) => {
    const duplicate = (values: string[]) =>
      values.find((value, index) => values.indexOf(value) !== index);
    const host = duplicate(config.hosts ?? []);
    if (host !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts"],
        message: `lists ${JSON.stringify(host)} twice: each host joins once`,
      });
    }
    const network = duplicate(config.networks.map((entry) => entry.name));
    if (network !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["networks"],
        message: `names the network ${JSON.stringify(network)} twice: network names must be unique`,
      });
    }
    config.networks.forEach((entry, index) => {
      const subnet = entry.subnet;
      if (subnet === undefined) return;
      const earlier = config.networks
        .slice(0, index)
        .findIndex((other) => other.subnet !== undefined && cidrsOverlap(other.subnet, subnet));
      const pool = DOCKER_DEFAULT_LOCAL_POOLS.find((range) => cidrsOverlap(range, subnet));
      if (earlier >= 0) {
        ctx.addIssue({
          code: "custom",
          path: ["networks", index, "subnet"],
          message: `overlaps networks[${earlier}].subnet (${config.networks[earlier].subnet}): give each network its own range`,
        });
      } else if (pool !== undefined) {
        // Bridges on the hosts (docker0, docker_gwbridge) take these: the overlay would shadow them.
        ctx.addIssue({
          code: "custom",
          path: ["networks", index, "subnet"],
          message:
            `overlaps Docker's default address pool ${pool}, which the hosts' bridges take: ` +
            'choose a range outside 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16, e.g. "10.20.0.0/24"',
        });
      }
    });
  });

/** Resolved `dockfleet:swarm` config: every default applied. */
export type SwarmConfig = z.infer<typeof SwarmConfigSchema>;
/** What a user may write: defaults still to apply. */
export type SwarmConfigInput = z.input<typeof SwarmConfigSchema>;

/**
 * Applies every default and check of the swarm config (the same schema as `dockfleet:swarm`).
 * Pure; throws a ConfigError naming each bad key under `keyPrefix`, its value and what is allowed.
 * A resolved config resolves to an equal one.
 */
export function resolveSwarmConfig(
  input: SwarmConfigInput = {},
  keyPrefix = "dockfleet:swarm",
): SwarmConfig {
  return resolveConfig(SwarmConfigSchema, input, keyPrefix, "swarm config");
}
export type SwarmNetworkConfig = SwarmConfig["networks"][number];
export type SwarmNodeSettings = z.infer<typeof SwarmNodeSettingsSchema>;
export type SwarmAvailability = SwarmNodeSettings["availability"];
