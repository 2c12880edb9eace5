/**
 * The security-group rules every cloud driver makes, planned once so that aws and aliyun open
 * exactly the same ports. Only SSH and the Docker API are reachable from outside, and only from
 * the operator's own networks; cluster traffic is allowed between members of the group alone.
 */

/** The private registry's port, until the registry's own config names another. */
export const DEFAULT_REGISTRY_PORT = 5000;

export type FirewallRuleSource =
  /** Addresses outside the group (the operator's admin networks). */
  | { kind: "cidr"; cidr: string }
  /** Any member of the same security group (a self-referencing rule). */
  | { kind: "group" };

export interface FirewallRule {
  /** Stable, unique key: it names the cloud resource, so a rule keeps its identity across runs. */
  key: string;
  description: string;
  protocol: "tcp" | "udp";
  fromPort: number;
  toPort: number;
  source: FirewallRuleSource;
}

export interface FirewallPlanArgs {
  /** Networks allowed to reach SSH and the Docker API (validated: never 0.0.0.0/0). */
  adminCidrs: string[];
  /** The TLS-protected Docker API port (engine.tlsPort). */
  dockerApiPort: number;
  /** @default DEFAULT_REGISTRY_PORT */
  registryPort?: number;
}

/** Swarm, etcd and registry ports: open between members of the group only. */
function memberRules(registryPort: number): Omit<FirewallRule, "source">[] {
  return [
    {
      key: "swarm-manager",
      description: "swarm: cluster management",
      protocol: "tcp",
      fromPort: 2377,
      toPort: 2377,
    },
    {
      key: "swarm-gossip-tcp",
      description: "swarm: node gossip",
      protocol: "tcp",
      fromPort: 7946,
      toPort: 7946,
    },
    {
      key: "swarm-gossip-udp",
      description: "swarm: node gossip",
      protocol: "udp",
      fromPort: 7946,
      toPort: 7946,
    },
    {
      key: "swarm-overlay",
      description: "swarm: overlay network (VXLAN)",
      protocol: "udp",
      fromPort: 4789,
      toPort: 4789,
    },
    {
      key: "etcd",
      description: "etcd: clients and peers",
      protocol: "tcp",
      fromPort: 2379,
      toPort: 2380,
    },
    {
      key: "registry",
      description: "private registry",
      protocol: "tcp",
      fromPort: registryPort,
      toPort: registryPort,
    },
  ];
}

/** Pure: the ingress rules for one environment's security group (egress is left open). */
export function planFirewallRules(args: FirewallPlanArgs): FirewallRule[] {
  const adminRules = args.adminCidrs.flatMap((cidr): FirewallRule[] => {
    const suffix = cidr.replace(/[./]/g, "-");
    return [
      {
        key: `ssh-from-${suffix}`,
        description: `SSH from admin network ${cidr}`,
        protocol: "tcp",
        fromPort: 22,
        toPort: 22,
        source: { kind: "cidr", cidr },
      },
      {
        key: `docker-api-from-${suffix}`,
        description: `Docker API (TLS) from admin network ${cidr}`,
        protocol: "tcp",
        fromPort: args.dockerApiPort,
        toPort: args.dockerApiPort,
        source: { kind: "cidr", cidr },
      },
    ];
  });
  const groupRules = memberRules(args.registryPort ?? DEFAULT_REGISTRY_PORT).map(
    (rule): FirewallRule => ({ ...rule, source: { kind: "group" } }),
  );
  return [...adminRules, ...groupRules];
}
