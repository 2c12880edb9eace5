/**
 * The security-group rules every cloud driver makes, planned once so that aws and aliyun open
 * exactly the same ports. Only SSH and the Docker API are reachable from outside, and only from
 * the operator's own networks; cluster traffic is allowed between members of the group alone.
 * Every port but swarm's fixed gossip and VXLAN ones is the one the stack configures.
 */

import type { ServicePorts } from "../driver";

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
  ports: ServicePorts;
}

/** A member rule on one port. */
function portRule(
  key: string,
  description: string,
  protocol: "tcp" | "udp",
  port: number,
): Omit<FirewallRule, "source"> {
  return { key, description, protocol, fromPort: port, toPort: port };
}

/** Swarm, etcd and registry ports: open between members of the group only. */
function memberRules(ports: ServicePorts): Omit<FirewallRule, "source">[] {
  // Adjacent etcd ports stay one rule under the key they always had, so that a stack made with
  // the defaults keeps its cloud rule; others get a rule each.
  const etcd =
    ports.etcdPeer === ports.etcdClient + 1
      ? [
          {
            key: "etcd",
            description: "etcd: clients and peers",
            protocol: "tcp" as const,
            fromPort: ports.etcdClient,
            toPort: ports.etcdPeer,
          },
        ]
      : [
          portRule("etcd-client", "etcd: clients", "tcp", ports.etcdClient),
          portRule("etcd-peer", "etcd: peers", "tcp", ports.etcdPeer),
        ];
  return [
    portRule("swarm-manager", "swarm: cluster management", "tcp", ports.swarm),
    portRule("swarm-gossip-tcp", "swarm: node gossip", "tcp", 7946),
    portRule("swarm-gossip-udp", "swarm: node gossip", "udp", 7946),
    portRule("swarm-overlay", "swarm: overlay network (VXLAN)", "udp", 4789),
    ...etcd,
    portRule("registry", "private registry", "tcp", ports.registry),
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
        fromPort: args.ports.dockerApi,
        toPort: args.ports.dockerApi,
        source: { kind: "cidr", cidr },
      },
    ];
  });
  const groupRules = memberRules(args.ports).map((rule): FirewallRule => ({
    ...rule,
    source: { kind: "group" },
  }));
  return [...adminRules, ...groupRules];
}
