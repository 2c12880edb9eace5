import type * as pulumi from "@pulumi/pulumi";
import {
  resolveSwarmConfig,
  type SwarmConfig,
  type SwarmConfigInput,
  type SwarmNodeSettings,
} from "../components/swarm/config";
import { type EtcdConfig, resolveEtcdConfig } from "../components/etcd/config";
import { etcdMemberIssues } from "../components/etcd/plan";
import { type RegistryConfig, resolveRegistryConfig } from "../components/registry/config";
import { ConfigError, type ConfigProblem, configError } from "../provision/config/errors";
import type { CaArgs, EngineArgs } from "./host-args";

/**
 * The served SwarmCluster's arguments and their mapping onto the library's: pure, so that unit
 * tests pin it. A swarm takes host descriptions, not served DockerHosts: Pulumi's schema
 * inference makes resource references only to classes of `@pulumi/*` packages, and a reference
 * reaching the provider would bring outputs only, not the SSH connection the swarm's steps need
 * (docs/yaml.md).
 */

/** One host you already have, made a Docker host and a node of the swarm. */
export interface SwarmHostArgs {
  /** The host's name: the swarm's node name in outputs and logs, unique in the swarm (a-z, 0-9, '-'). */
  name: string;
  /** Address the host is reached at over SSH and by Docker clients: an IP address or a DNS name. */
  address: string;
  /** IP address the other nodes reach it at (the swarm advertises it). Default: address. */
  privateAddress?: string;
  /** SSH port. Default: 22. */
  port?: number;
  /** SSH user (root, or one with password-less sudo). Default: root. */
  user?: string;
  /** The host's public key ("ssh-ed25519 AAAA..."). Default: the key seen on first contact, pinned. */
  hostKey?: string;
  /** "manager" or "worker"; the first manager inits the swarm. Default: manager for the first host, worker for the others. */
  role?: string;
  /** "active", "pause" (no new tasks) or "drain" (no tasks). Default: active. */
  availability?: string;
  /** Node labels of this host, on top of the swarm's labels (this host's value wins). */
  labels?: Record<string, string>;
}

/** An overlay network the swarm gets. */
export interface SwarmNetworkArgs {
  /** The network's name, as services and `docker run --network` use it. */
  name: string;
  /** Standalone containers may join it, not only services. Default: true. */
  attachable?: boolean;
  /** IPsec encryption of the traffic between nodes (needs the kernel's xfrm support). Default: false. */
  encrypted?: boolean;
  /** Its subnet (/8 to /29), clear of Docker's default pools. Default: one Docker picks. */
  subnet?: string;
}

/**
 * A private registry (Docker's distribution, Debian's docker-registry package as a systemd service)
 * on one of the swarm's hosts: TLS from a CA of its own, htpasswd authentication, and every host
 * of the swarm trusting it and logged in, so that services pull `<registryUrl>/app:1`.
 */
export interface SwarmRegistryArgs {
  /** Name of the host that runs it (one of hosts). Default: the first manager. */
  host?: string;
  /** TCP port it listens on (TLS), on the host's private address. Default: 5000. */
  port?: number;
  /** User of the htpasswd authentication. Default: dockfleet. */
  username?: string;
  /** Its password (pass a secret). Default: a generated one, kept in the state as a secret. */
  password?: pulumi.Input<string>;
  /** Allow deleting manifests and blobs through the API. Default: false. */
  deleteEnabled?: boolean;
  /** On destroy, also delete the registry's data (the images). Default: false. */
  removeDataOnDestroy?: boolean;
}

/**
 * An etcd cluster on some of the swarm's hosts (Debian's etcd-server as a systemd service), TLS
 * with client certificates on both ports, its own CAs, members joined one at a time.
 */
export interface SwarmEtcdArgs {
  /** The hosts that run a member, by name; an odd count keeps quorum best. Default: the managers. */
  members?: string[];
  /** Client port (TLS, client certificates), on each member's private address. Default: 2379. */
  clientPort?: number;
  /** Peer port (TLS between members). Default: 2380. */
  peerPort?: number;
  /** On destroy, also remove the etcd packages (the data is always wiped). Default: false. */
  removeOnDestroy?: boolean;
}

/** A Docker swarm over hosts you already have, each reached over SSH and made a Docker host. */
export interface SwarmClusterArgs extends EngineArgs, CaArgs {
  /** The hosts, in order: managers first by role, each group in the order given. */
  hosts: SwarmHostArgs[];
  /** The private key that logs in to every host (OpenSSH or PEM): pass it as a secret. */
  privateKey: pulumi.Input<string>;
  /** Swarm port (advertise and listen) on each host's private address. Default: 2377. */
  swarmPort?: number;
  /** Node labels on every node. */
  labels?: Record<string, string>;
  /** Overlay networks to create. Default: none. */
  networks?: SwarmNetworkArgs[];
  /** A private registry on one of the hosts, trusted by all of them. Default: none. */
  registry?: SwarmRegistryArgs;
  /** An etcd cluster on some of the hosts. Default: none. */
  etcd?: SwarmEtcdArgs;
}

export interface ResolvedSwarmClusterArgs {
  /** The hosts, managers first: the order the library's swarm config lists them in. */
  hosts: SwarmHostArgs[];
  /** The library's swarm config for them, every default applied. */
  swarm: SwarmConfig;
  /** The library's registry config, every default applied (the password apart: an Input). */
  registry?: RegistryConfig;
  /** The library's etcd config, every default applied, with an etcd cluster. */
  etcd?: EtcdConfig;
}

const ROLES = ["manager", "worker"];

/**
 * Pure: the hosts in the swarm's order and the library's swarm config (what `dockfleet:swarm`
 * says in a stack) for these arguments. Throws a ConfigError naming each bad argument
 * (`SwarmCluster <name>.hosts[1].role`), its value and what is allowed.
 */
export function resolveSwarmClusterArgs(
  name: string,
  args: SwarmClusterArgs,
): ResolvedSwarmClusterArgs {
  const subject = `SwarmCluster ${name}`;
  const hosts = args.hosts ?? [];
  const problems: ConfigProblem[] = [];
  const roles = hosts.map((host, index) => {
    const role = host.role ?? (index === 0 ? "manager" : "worker");
    if (!ROLES.includes(role)) {
      problems.push({
        key: `${subject}.hosts[${index}].role`,
        value: JSON.stringify(role),
        allowed: 'must be "manager" or "worker"',
      });
    }
    return role;
  });
  if (problems.length === 0 && !roles.includes("manager")) {
    problems.push({
      key: `${subject}.hosts`,
      value: JSON.stringify(hosts.map((host) => host.name)),
      allowed: 'needs a host with role "manager" (the first one inits the swarm)',
    });
  }
  if (problems.length > 0) throw new ConfigError(`${subject} args`, problems);

  const managers = hosts.filter((_, index) => roles[index] === "manager");
  const workers = hosts.filter((_, index) => roles[index] === "worker");
  const ordered = [...managers, ...workers];
  const nodes: Record<string, Partial<SwarmNodeSettings>> = {};
  for (const host of ordered) {
    if (host.availability === undefined && host.labels === undefined) continue;
    nodes[host.name] = {
      // Plain strings in the schema; the swarm config's schema refuses any other value, naming it.
      availability: host.availability as SwarmNodeSettings["availability"] | undefined,
      labels: host.labels,
    };
  }
  const input: SwarmConfigInput = {
    enabled: true,
    hosts: ordered.map((host) => host.name),
    managers: managers.length,
    workers: workers.length,
    port: args.swarmPort,
    labels: args.labels,
    nodes: nodes as SwarmConfigInput["nodes"],
    networks: args.networks,
  };
  return {
    hosts: ordered,
    swarm: resolveSwarmConfig(input, subject),
    registry: args.registry && resolveSwarmRegistry(subject, args.registry, ordered),
    etcd:
      args.etcd &&
      resolveSwarmEtcd(
        subject,
        args.etcd,
        ordered.map((host) => host.name),
        managers.map((host) => host.name),
      ),
  };
}

/** Pure: the library's etcd config on the swarm's hosts, checked under the component's name. */
function resolveSwarmEtcd(
  subject: string,
  etcd: SwarmEtcdArgs,
  names: readonly string[],
  managers: readonly string[],
): EtcdConfig {
  const members = etcd.members ?? [...managers];
  const issues = etcdMemberIssues(names, members);
  if (issues.length > 0)
    throw configError(`${subject} args`, `${subject}.etcd`, { members }, issues);
  return resolveEtcdConfig(
    {
      enabled: true,
      members,
      clientPort: etcd.clientPort,
      peerPort: etcd.peerPort,
      removeOnDestroy: etcd.removeOnDestroy,
    },
    `${subject}.etcd`,
  );
}

/** Pure: the library's registry config on the swarm's hosts, checked under the component's name. */
function resolveSwarmRegistry(
  subject: string,
  registry: SwarmRegistryArgs,
  hosts: readonly SwarmHostArgs[],
): RegistryConfig {
  const names = hosts.map((host) => host.name);
  const host = registry.host ?? names[0];
  if (!names.includes(host)) {
    throw new ConfigError(`${subject} args`, [
      {
        key: `${subject}.registry.host`,
        value: JSON.stringify(host),
        allowed: `must be one of the swarm's hosts (${names.join(", ")})`,
      },
    ]);
  }
  return resolveRegistryConfig(
    {
      enabled: true,
      host,
      port: registry.port,
      username: registry.username,
      deleteEnabled: registry.deleteEnabled,
      removeDataOnDestroy: registry.removeDataOnDestroy,
    },
    `${subject}.registry`,
  );
}
