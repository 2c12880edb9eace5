import { z } from "zod";
import { AppsConfigSchema } from "../apps/config";
import { addConfigIssues, type ConfigIssue, resolveConfig } from "../../provision/config/errors";
import { cidrsOverlap, hostName } from "../../provision/config/fields";
import { DEFAULT_STEP_TIMEOUTS, StepTimeoutsSchema } from "../../provision/dynamic/step-timeouts";
import { ProxyConfigSchema } from "../../provision/dynamic/proxy-environment";
import { EngineConfigSchema } from "../engine/config";
import { CertificatesConfigSchema } from "../../provision/pki/config";
import { DEFAULT_ETCD_CONFIG, EtcdConfigSchema } from "../etcd/config";
import {
  AliyunDriverConfig,
  AwsDriverConfig,
  LocalDriverConfig,
  parseIpv4Cidr,
  SshHostConfig,
  VIRTUALBOX_HOST_ONLY_RANGE,
  VirtualBoxDriverConfig,
  QemuDriverConfig,
} from "../machines/config";
import type { ServicePorts } from "../machines/driver";
import { planLocalHosts } from "../machines/local/run-args";
import { MonitoringConfigSchema } from "../monitoring/config";
import { RegistryConfigSchema } from "../registry/config";
import { SwarmConfigSchema } from "../swarm/config";
import {
  hostReferenceIssues,
  plannedHostNames,
  portCollisionIssues,
  sshHostIssues,
  sshPrivateAddressIssues,
  swarmNetworkIssues,
} from "./checks";

/**
 * The one schema for a stack's `dockfleet:*` config, so that a bad stack file stops
 * `pulumi preview` before any resource exists, with an error naming the key, the value and what
 * is allowed. Each key's schema, with its defaults and its own checks, belongs to its component
 * (components/<component>/config.ts: engine, machines for the drivers, etcd, swarm, registry,
 * apps); this file puts them together with the top-level keys, the checks that span keys and
 * the driver-dependent defaults. resolveConfig (provision/config/errors.ts) words the errors.
 * Each key's `.describe()` text is its entry in docs/configuration.md (bin/gen-config-docs.ts).
 */

const NAMESPACE = "dockfleet";

/** docker0 on the machine that runs the local driver: Docker refuses a network over it. */
const DOCKER_DEFAULT_BRIDGE = "172.17.0.0/16";

export { plannedHostNames };

export const StackConfigSchema = z
  .strictObject({
    driver: z
      .enum(["local", "ssh", "aws", "aliyun", "virtualbox", "qemu"])
      .default("local")
      .describe("Which driver creates the hosts."),
    hosts: z
      .int()
      .min(1)
      .max(20)
      .default(3)
      .describe("How many hosts the local, aws, aliyun, virtualbox and qemu drivers create."),
    namePrefix: hostName
      .default("host")
      .describe("Host names are `<namePrefix>-1`, `<namePrefix>-2`, ..."),
    local: LocalDriverConfig.default(LocalDriverConfig.parse({})),
    sshHosts: z.array(SshHostConfig).default([]).describe("The ssh driver's existing hosts."),
    engine: EngineConfigSchema.default(EngineConfigSchema.parse({})),
    certificates: CertificatesConfigSchema.default(CertificatesConfigSchema.parse({})).describe(
      "Lifetime and renewal window of every server and client certificate (the CA's is " +
        "10 years and it is not renewed by `up`).",
    ),
    aws: AwsDriverConfig.optional().describe(
      'The aws driver\'s settings (required with driver "aws").',
    ),
    aliyun: AliyunDriverConfig.optional().describe(
      'The aliyun driver\'s settings (required with driver "aliyun").',
    ),
    virtualbox: VirtualBoxDriverConfig.optional().describe(
      'The virtualbox driver\'s settings (required with driver "virtualbox").',
    ),
    qemu: QemuDriverConfig.default(QemuDriverConfig.parse({})).describe(
      "The qemu driver's settings (VMs on this machine, docs/qemu.md).",
    ),
    etcd: EtcdConfigSchema.default(DEFAULT_ETCD_CONFIG).describe(
      "An etcd cluster on the hosts (components/etcd): off unless `enabled: true`.",
    ),
    swarm: SwarmConfigSchema.default(SwarmConfigSchema.parse({})).describe(
      "A Docker swarm of the hosts (components/swarm): off unless `enabled: true`.",
    ),
    registry: RegistryConfigSchema.default(RegistryConfigSchema.parse({})).describe(
      "A private registry every host trusts (components/registry): off unless " +
        "`enabled: true`.",
    ),
    apps: AppsConfigSchema.default(AppsConfigSchema.parse({})).describe(
      "The sample apps on the swarm (components/apps): off unless `enabled: true`.",
    ),
    monitoring: MonitoringConfigSchema.default(MonitoringConfigSchema.parse({})).describe(
      "Prometheus and a node exporter on every host (components/monitoring): off unless " +
        "`enabled: true`.",
    ),
    stepTimeouts: StepTimeoutsSchema.default(DEFAULT_STEP_TIMEOUTS),
    proxy: ProxyConfigSchema.optional(),
    sshPrivateKey: z
      .string()
      .regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, {
        message: "must be a PEM or OpenSSH private key",
      })
      .optional()
      .describe(
        "ssh driver: the private key for the hosts. Set it with `pulumi config set --secret`.",
      ),
  })
  .superRefine((config, ctx) => {
    if (config.driver === "ssh" && config.sshHosts.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["sshHosts"],
        message: 'must list at least one host when driver is "ssh"',
      });
    }
    if (config.driver === "local" && cidrsOverlap(config.local.subnet, DOCKER_DEFAULT_BRIDGE)) {
      ctx.addIssue({
        code: "custom",
        path: ["local", "subnet"],
        message: `overlaps ${DOCKER_DEFAULT_BRIDGE}, the default bridge (docker0) of this machine's Docker: choose another range, e.g. "172.30.10.0/24"`,
      });
    } else if (config.driver === "local") {
      try {
        planLocalHosts({
          count: config.hosts,
          namePrefix: config.namePrefix,
          subnet: config.local.subnet,
        });
      } catch (error) {
        ctx.addIssue({
          code: "custom",
          path: ["local", "subnet"],
          message: (error as Error).message,
        });
      }
    }
    const issues: ConfigIssue[] = [
      ...hostReferenceIssues(config),
      ...portCollisionIssues(config),
      ...swarmNetworkIssues(config),
      ...sshHostIssues(config.sshHosts),
      ...sshPrivateAddressIssues(config),
    ];
    // A section its own schema refused is not checked again across keys: one error a mistake.
    const refused = new Set(ctx.issues.map((issue) => issue.path?.[0]));
    addConfigIssues(
      ctx,
      config,
      issues.filter((issue) => !refused.has(issue.path[0])),
    );
    if (config.engine.liveRestore === true && config.swarm.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["engine", "liveRestore"],
        message:
          "cannot be true with the swarm on: Docker refuses swarm mode with live-restore " +
          "(leave it unset: it is then on only without a swarm)",
      });
    }
    if (config.apps.enabled && !config.swarm.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["apps", "enabled"],
        message: "needs the swarm: set dockfleet:swarm.enabled to true",
      });
    }
    if (config.apps.enabled && config.apps.pushImages && !config.registry.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["apps", "pushImages"],
        message:
          "needs the private registry: set dockfleet:registry.enabled to true, or pushImages to false",
      });
    }
    if (config.monitoring.enabled && !config.registry.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["monitoring", "enabled"],
        message:
          "needs the private registry (Prometheus's image is pushed there): set " +
          "dockfleet:registry.enabled to true",
      });
    } else if (config.monitoring.enabled && config.registry.proxy !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["monitoring", "enabled"],
        message:
          "needs a registry that takes pushes (Prometheus's image is pushed there), and " +
          "dockfleet:registry.proxy makes it a read-only pull-through cache",
      });
    }
    for (const driver of ["aws", "aliyun", "virtualbox"] as const) {
      if (config.driver === driver && config[driver] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [driver],
          message: `is required when driver is "${driver}": see stacks/Pulumi.${driver === "virtualbox" ? "vbox" : driver}.yaml`,
        });
      }
    }
    for (const driver of ["aws", "aliyun"] as const) {
      if (config[driver]?.publicKey !== undefined && config.sshPrivateKey === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["sshPrivateKey"],
          message: `is required when ${driver}.publicKey is set: its private half, with \`pulumi config set --secret dockfleet:sshPrivateKey < key\``,
        });
      }
    }
    if (config.driver === "virtualbox" && config.virtualbox !== undefined) {
      const cidr = parseIpv4Cidr(config.virtualbox.hostOnlyCidr);
      const room = cidr === undefined ? 0 : 2 ** (32 - cidr.prefix) - 11;
      if (config.hosts > room) {
        ctx.addIssue({
          code: "custom",
          path: ["virtualbox", "hostOnlyCidr"],
          message: `holds ${Math.max(0, room)} VMs from .10 on, not ${config.hosts}: choose a larger range inside ${VIRTUALBOX_HOST_ONLY_RANGE}`,
        });
      }
    }
    if (config.driver === "qemu") {
      const cidr = parseIpv4Cidr(config.qemu.subnet);
      const room = cidr === undefined ? 0 : 2 ** (32 - cidr.prefix) - 11;
      if (config.hosts > room) {
        ctx.addIssue({
          code: "custom",
          path: ["qemu", "subnet"],
          message: `holds ${Math.max(0, room)} VMs from .10 on, not ${config.hosts}: choose a larger subnet`,
        });
      }
    }
    const seen = new Set<string>();
    config.sshHosts.forEach((host, index) => {
      if (seen.has(host.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["sshHosts", index, "name"],
          message: "is used by another host: host names must be unique",
        });
      }
      seen.add(host.name);
    });
  });

export type StackConfig = z.infer<typeof StackConfigSchema>;

/** Pure: the ports the services listen on, as configured (the cloud firewalls open them). */
export function servicePorts(config: StackConfig): ServicePorts {
  return {
    dockerApi: config.engine.tlsPort,
    swarm: config.swarm.port,
    etcdClient: config.etcd.clientPort,
    etcdPeer: config.etcd.peerPort,
    registry: config.registry.port,
  };
}

/** Config values arrive as strings; structured and scalar YAML values as JSON text. */
function decodeConfigValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Defaults that depend on the driver, applied before the schema's own. The aliyun driver installs
 * docker-ce from Aliyun's mirror unless engine.source says otherwise (download.docker.com is slow
 * or unreachable from mainland China). Pure: returns a new object.
 */
function withDriverDefaults(input: Record<string, unknown>): Record<string, unknown> {
  if (input.driver !== "aliyun") return input;
  const engine =
    input.engine !== null && typeof input.engine === "object"
      ? (input.engine as Record<string, unknown>)
      : {};
  if (engine.source !== undefined) return input;
  return { ...input, engine: { source: "mirror", mirrorUrl: "aliyun", ...engine } };
}

/**
 * Validates the stack's config (as `pulumi.runtime.allConfig()` returns it: "dockfleet:key" →
 * string) and applies every default. Keys of other namespaces (aws:, pulumi:) are ignored.
 * Pure: reads no environment, never mutates its input. Throws a ConfigError naming each bad key,
 * its value (never a secret's) and what is allowed.
 */
export function resolveStackConfig(allConfig: Record<string, string>): StackConfig {
  const input: Record<string, unknown> = {};
  for (const [fullKey, raw] of Object.entries(allConfig)) {
    const [namespace, key] = fullKey.split(":", 2);
    if (namespace === NAMESPACE && key !== undefined) {
      input[key] = decodeConfigValue(raw);
    }
  }
  return resolveConfig(
    StackConfigSchema,
    withDriverDefaults(input),
    `${NAMESPACE}:`,
    "stack config",
  );
}
