import type { ConfigIssue } from "../../provision/config/errors";
import { cidrsOverlap } from "../../provision/config/fields";
import { isIpAddress } from "../../provision/config/addresses";
import type { AppsConfig } from "../apps/config";
import type { EngineConfig } from "../engine/config";
import type { EtcdConfig } from "../etcd/config";
import { etcdMemberIssues } from "../etcd/plan";
import type {
  AliyunDriverConfig,
  AwsDriverConfig,
  QemuDriverConfig,
  SshHostConfig,
  VirtualBoxDriverConfig,
} from "../machines/config";
import type { DriverSettings } from "../machines/driver";
import type { DriverName } from "../machines/drivers";
import type { MonitoringConfig } from "../monitoring/config";
import type { RegistryConfig } from "../registry/config";
import type { SwarmConfig } from "../swarm/config";
import { planSwarm, swarmPlanIssues } from "../swarm/plan";

/**
 * The stack schema's checks that span concepts: that the hosts can run what the config places on
 * them (etcd members, swarm nodes, the registry), that no two services on a host want one port,
 * that the swarm's networks stay clear of the hosts' own, and that ssh hosts are distinct. Each
 * returns issues with their path in the stack config; components/stack/config.ts adds them.
 */

/**
 * The sections of the stack config the checks read, each as its component types it. A
 * StackConfig (./config, whose schema runs these checks) is one.
 */
export interface StackConfigSections {
  driver: DriverName;
  hosts: number;
  namePrefix: string;
  local: DriverSettings["local"];
  sshHosts: SshHostConfig[];
  aws?: AwsDriverConfig;
  aliyun?: AliyunDriverConfig;
  virtualbox?: VirtualBoxDriverConfig;
  qemu: QemuDriverConfig;
  engine: EngineConfig;
  etcd: EtcdConfig;
  swarm: SwarmConfig;
  registry: RegistryConfig;
  apps: AppsConfig;
  monitoring: MonitoringConfig;
}

/** The host names a config gives its hosts: from the ssh host list, or `<namePrefix>-<n>`. */
export function plannedHostNames(config: {
  driver: string;
  hosts: number;
  namePrefix: string;
  sshHosts: { name: string }[];
}): string[] {
  return config.driver === "ssh"
    ? config.sshHosts.map((host) => host.name)
    : Array.from({ length: config.hosts }, (_, index) => `${config.namePrefix}-${index + 1}`);
}

function under(section: string, issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((issue) => ({ ...issue, path: [section, ...issue.path] }));
}

/** Host names that etcd, the swarm and the registry name must be hosts that can carry them. */
export function hostReferenceIssues(config: StackConfigSections): ConfigIssue[] {
  const names = plannedHostNames(config);
  const issues: ConfigIssue[] = [];
  if (config.etcd.enabled) {
    issues.push(...under("etcd", etcdMemberIssues(names, config.etcd.members)));
  }
  if (config.swarm.enabled) issues.push(...under("swarm", swarmPlanIssues(names, config.swarm)));
  // The components placed on one host by name.
  for (const section of ["registry", "monitoring"] as const) {
    const { enabled, host } = config[section];
    if (enabled && host !== undefined && !names.includes(host)) {
      issues.push({
        path: [section, "host"],
        message: `must be a host of this environment (${names.join(", ")})`,
      });
    }
  }
  return issues;
}

/** One port a service takes on a host. */
interface PortUse {
  port: number;
  /** The key that sets it, or undefined for a port fixed by the service. */
  path?: PropertyKey[];
  /** How an error names it: "engine.tlsPort (the Docker API)", "swarm's gossip (7946)". */
  what: string;
}

/** Pure: the hosts a config puts in its swarm (none when off or when its plan cannot be met). */
function swarmNodes(names: string[], config: StackConfigSections): string[] {
  if (!config.swarm.enabled || swarmPlanIssues(names, config.swarm).length > 0) return [];
  return planSwarm(names, config.swarm).nodes.map((node) => node.name);
}

/** Pure: the hosts that run an etcd member. */
function etcdHosts(names: string[], etcd: EtcdConfig): string[] {
  if (!etcd.enabled) return [];
  return typeof etcd.members === "number" ? names.slice(0, etcd.members) : etcd.members;
}

/** Pure: the host that runs the registry, when it is on. */
function registryHost(names: string[], config: StackConfigSections): string | undefined {
  return config.registry.enabled ? (config.registry.host ?? names[0]) : undefined;
}

/** Pure: every port each host of the config serves, in a fixed order of services. */
function portUsesByHost(config: StackConfigSections): Map<string, PortUse[]> {
  const names = plannedHostNames(config);
  const swarm = swarmNodes(names, config);
  const etcd = etcdHosts(names, config.etcd);
  const registry = registryHost(names, config);
  const apps = config.apps.enabled && swarm.length > 0 ? config.apps : undefined;
  return new Map(
    names.map((name, index): [string, PortUse[]] => {
      const uses: PortUse[] = [];
      if (config.driver === "ssh") {
        uses.push({
          port: config.sshHosts[index].port,
          path: ["sshHosts", index, "port"],
          what: `sshHosts[${index}].port (SSH)`,
        });
      } else {
        uses.push({ port: 22, what: "SSH (22)" });
      }
      uses.push({
        port: config.engine.tlsPort,
        path: ["engine", "tlsPort"],
        what: "engine.tlsPort (the Docker API)",
      });
      if (swarm.includes(name)) {
        uses.push(
          {
            port: config.swarm.port,
            path: ["swarm", "port"],
            what: "swarm.port (swarm management)",
          },
          { port: 7946, what: "the swarm's node gossip (7946)" },
          { port: 4789, what: "the swarm's overlay traffic (VXLAN, 4789)" },
        );
      }
      if (etcd.includes(name)) {
        uses.push(
          { port: config.etcd.clientPort, path: ["etcd", "clientPort"], what: "etcd.clientPort" },
          { port: config.etcd.peerPort, path: ["etcd", "peerPort"], what: "etcd.peerPort" },
        );
      }
      if (registry === name) {
        uses.push({
          port: config.registry.port,
          path: ["registry", "port"],
          what: "registry.port (the private registry)",
        });
      }
      // Published on every node: by the routing mesh, or by a task on each node (mode global).
      if (apps !== undefined && swarm.includes(name)) {
        for (const app of ["counter", "wordpress"] as const) {
          if (apps[app].enabled) {
            uses.push({
              port: apps[app].port,
              path: ["apps", app, "port"],
              what: `apps.${app}.port (the ${app} app)`,
            });
          }
        }
      }
      if (config.monitoring.enabled) {
        const monitoring = config.monitoring;
        uses.push(
          {
            port: monitoring.nodeExporterPort,
            path: ["monitoring", "nodeExporterPort"],
            what: "monitoring.nodeExporterPort (the node exporter)",
          },
          {
            port: monitoring.engineMetricsPort,
            path: ["monitoring", "engineMetricsPort"],
            what: "monitoring.engineMetricsPort (Docker's metrics)",
          },
        );
        if ((monitoring.host ?? registry) === name) {
          uses.push({
            port: monitoring.port,
            path: ["monitoring", "port"],
            what: "monitoring.port (Prometheus)",
          });
        }
        if (registry === name) {
          uses.push({
            port: monitoring.registryMetricsPort,
            path: ["monitoring", "registryMetricsPort"],
            what: "monitoring.registryMetricsPort (the registry's metrics)",
          });
        }
      }
      return [name, uses];
    }),
  );
}

/** The etcd schema itself refuses clientPort = peerPort (it is checked standalone too). */
function checkedByComponent(a: PortUse, b: PortUse): boolean {
  return a.path?.[0] === "etcd" && b.path?.[0] === "etcd";
}

/**
 * Two services wanting the same port on one host: the error goes to the later key (the fixed
 * ports and SSH come first), once per pair, naming the hosts where they meet.
 */
export function portCollisionIssues(config: StackConfigSections): ConfigIssue[] {
  const byHost = portUsesByHost(config);
  const collisions = new Map<string, { path: PropertyKey[]; what: string; hosts: string[] }>();
  for (const [host, uses] of byHost) {
    uses.forEach((later, index) => {
      for (const earlier of uses.slice(0, index)) {
        if (earlier.port !== later.port || checkedByComponent(earlier, later)) continue;
        const [reported, other] = later.path !== undefined ? [later, earlier] : [earlier, later];
        if (reported.path === undefined) continue;
        const id = `${JSON.stringify(reported.path)} ${other.what}`;
        const entry = collisions.get(id) ?? { path: reported.path, what: other.what, hosts: [] };
        entry.hosts.push(host);
        collisions.set(id, entry);
      }
    });
  }
  return [...collisions.values()].map(({ path, what, hosts }) => ({
    path,
    message:
      `collides with ${what} on ${hosts.length === byHost.size && hosts.length > 1 ? "every host" : hosts.join(", ")}: ` +
      "give each service its own port",
  }));
}

/** The network the hosts themselves are on, where the config says (not with the ssh driver). */
function hostsNetwork(config: StackConfigSections): { key: string; cidr: string } | undefined {
  if (config.driver === "local") return { key: "local.subnet", cidr: config.local.subnet };
  if (config.driver === "aws" && config.aws !== undefined && config.aws.vpcId === undefined) {
    return { key: "aws.vpcCidr", cidr: config.aws.vpcCidr };
  }
  if (config.driver === "aliyun" && config.aliyun !== undefined) {
    return { key: "aliyun.vpcCidr", cidr: config.aliyun.vpcCidr };
  }
  if (config.driver === "virtualbox" && config.virtualbox !== undefined) {
    return { key: "virtualbox.hostOnlyCidr", cidr: config.virtualbox.hostOnlyCidr };
  }
  if (config.driver === "qemu") return { key: "qemu.subnet", cidr: config.qemu.subnet };
  return undefined;
}

/** An overlay network over the hosts' own addresses would shadow them inside every container. */
export function swarmNetworkIssues(config: StackConfigSections): ConfigIssue[] {
  const network = hostsNetwork(config);
  if (!config.swarm.enabled || network === undefined) return [];
  return config.swarm.networks.flatMap((entry, index): ConfigIssue[] =>
    entry.subnet !== undefined && cidrsOverlap(entry.subnet, network.cidr)
      ? [
          {
            path: ["swarm", "networks", index, "subnet"],
            message: `overlaps the hosts' network ${network.key} (${network.cidr}): choose a range of its own`,
          },
        ]
      : [],
  );
}

/**
 * Two ssh hosts that are one machine (same address and port), or that others would reach at
 * the same private address (etcd and the swarm advertise it).
 */
export function sshHostIssues(sshHosts: readonly SshHostConfig[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  sshHosts.forEach((host, index) => {
    const earlier = sshHosts.slice(0, index);
    const same = earlier.findIndex(
      (other) => other.address === host.address && other.port === host.port,
    );
    const privateOf = (entry: SshHostConfig) => entry.privateAddress ?? entry.address;
    const samePrivate = earlier.findIndex((other) => privateOf(other) === privateOf(host));
    if (same >= 0) {
      issues.push({
        path: ["sshHosts", index, "address"],
        message: `is the address of sshHosts[${same}] (${sshHosts[same].name}) too, on the same port: list each host once`,
      });
    } else if (samePrivate >= 0) {
      issues.push({
        path: ["sshHosts", index, host.privateAddress === undefined ? "address" : "privateAddress"],
        message:
          `is the private address of sshHosts[${samePrivate}] (${sshHosts[samePrivate].name}) too: ` +
          "etcd and the swarm reach each host at its own; set privateAddress",
      });
    }
  });
  return issues;
}

/**
 * Pure: the services on each host that listen on or advertise its private address, which must
 * then be an IP address: the swarm (docker swarm's --advertise-addr takes an IP or an interface),
 * etcd (its listen URLs take IPs only), the registry (docker's --publish takes an IP) and, with
 * etcd.dockerClusterStore, every engine (cluster-advertise takes an IP or an interface).
 */
function servicesOnPrivateAddress(config: StackConfigSections): Map<string, string[]> {
  const names = plannedHostNames(config);
  const swarm = swarmNodes(names, config);
  const etcd = etcdHosts(names, config.etcd);
  const registry = registryHost(names, config);
  const clusterStore = config.etcd.enabled && config.etcd.dockerClusterStore;
  return new Map(
    names.map((name): [string, string[]] => [
      name,
      [
        swarm.includes(name) ? "the swarm" : undefined,
        etcd.includes(name) ? "etcd" : undefined,
        registry === name ? "the registry" : undefined,
        clusterStore ? "Docker's cluster store (etcd.dockerClusterStore)" : undefined,
      ].filter((service) => service !== undefined),
    ]),
  );
}

/**
 * An ssh host's private address given by DNS name where a service binds to or advertises it.
 * Refused rather than resolved on the host: the address the swarm and etcd keep would then be one
 * that no config and no preview shows, and a later change of the name's address would go unseen.
 * The public address may stay a name (certificates carry it as a DNS SAN).
 */
export function sshPrivateAddressIssues(config: StackConfigSections): ConfigIssue[] {
  if (config.driver !== "ssh") return [];
  const servicesByHost = servicesOnPrivateAddress(config);
  return config.sshHosts.flatMap((host, index): ConfigIssue[] => {
    const using = servicesByHost.get(host.name) ?? [];
    const privateAddress = host.privateAddress ?? host.address;
    if (using.length === 0 || isIpAddress(privateAddress)) return [];
    const services =
      using.length === 1 ? using[0] : `${using.slice(0, -1).join(", ")} and ${using.at(-1)}`;
    const verbs = using.length === 1 ? "listens on or advertises" : "listen on or advertise";
    return [
      host.privateAddress === undefined
        ? {
            path: ["sshHosts", index, "address"],
            message:
              "is a DNS name and, with no privateAddress, the private address too, which " +
              `${services} on ${host.name} ${verbs}, so it must be an IP address: ` +
              `set sshHosts[${index}].privateAddress to the host's IP address (address may stay a name)`,
          }
        : {
            path: ["sshHosts", index, "privateAddress"],
            message: `must be an IP address, not a DNS name, e.g. "10.0.0.5": ${services} on ${host.name} ${verbs} it`,
          },
    ];
  });
}
