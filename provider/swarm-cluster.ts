import * as pulumi from "@pulumi/pulumi";
import { resolveOrFail } from "../provision/dynamic/resource";
import { DockerHost as LibraryDockerHost } from "../components/engine/docker-host";
import { EtcdCluster } from "../components/etcd/etcd-cluster";
import { PrivateRegistry } from "../components/registry/private-registry";
import { SwarmCluster as LibrarySwarmCluster } from "../components/swarm/swarm-cluster";
import { createClientAccess, engineConfigOf } from "./host-args";
import { resolveSwarmClusterArgs, type SwarmClusterArgs } from "./swarm-args";

export type {
  SwarmClusterArgs,
  SwarmEtcdArgs,
  SwarmHostArgs,
  SwarmNetworkArgs,
  SwarmRegistryArgs,
} from "./swarm-args";

/** One node as the swarm's users see it. */
export interface SwarmNodeInfo {
  /** The host's name. */
  name: string;
  /** "manager" or "worker". */
  role: string;
  /** "active", "pause" or "drain". */
  availability: string;
  /** Docker's ID of the node (`docker node ls`). */
  nodeId: string;
}

/**
 * A Docker swarm over hosts you already have: each host made a Docker host (dockfleet's
 * DockerHost: host key pinned, Docker installed, its API behind TLS), then dockfleet's
 * SwarmCluster over them (init on the first manager, the others joined with secret tokens, node
 * labels, overlay networks), and, when asked, dockfleet's PrivateRegistry on one of them, trusted
 * by all, and its EtcdCluster on some of them. One CA signs every engine's certificate, and one client certificate from it reaches
 * them all.
 */
export class SwarmCluster extends pulumi.ComponentResource {
  /** tcp://<first manager's address>:2376: DOCKER_HOST for `docker node ls` and `docker stack deploy`. */
  readonly dockerHost: pulumi.Output<string>;
  /** Every host's DOCKER_HOST, by host name. */
  readonly dockerHosts: pulumi.Output<Record<string, string>>;
  /** PEM of the CA clients check the engines with (ca.pem). */
  readonly caCertPem: pulumi.Output<string>;
  /** A client certificate every engine accepts (cert.pem). */
  readonly clientCertPem: pulumi.Output<string>;
  /** Its private key, a secret (key.pem). */
  readonly clientKeyPem: pulumi.Output<string>;
  /** The first manager's private address:port, where nodes join. */
  readonly managerAddress: pulumi.Output<string>;
  /** The swarm's ID. */
  readonly clusterId: pulumi.Output<string>;
  /** Every node with its role and availability, once it is in the swarm. */
  readonly nodes: pulumi.Output<SwarmNodeInfo[]>;
  /** The overlay networks' names, once they exist. */
  readonly networks: pulumi.Output<string[]>;
  /** Join token for workers added outside dockfleet (a secret). */
  readonly workerJoinToken: pulumi.Output<string>;
  /** Join token for managers added outside dockfleet (a secret). */
  readonly managerJoinToken: pulumi.Output<string>;
  /** With a registry: "address:port" on its host's private address ("<registryUrl>/app:1"). */
  readonly registryUrl?: pulumi.Output<string>;
  /** With a registry: the user the program logs in as. */
  readonly registryUsername?: pulumi.Output<string>;
  /** With a registry: its password (a secret). */
  readonly registryPassword?: pulumi.Output<string>;
  /** With a registry: PEM of its own CA (certs.d/<registryUrl>/ca.crt for clients elsewhere). */
  readonly registryCaCertPem?: pulumi.Output<string>;
  /** With etcd: the members' client URLs (https://<private address>:<port>), once all are healthy. */
  readonly etcdEndpoints?: pulumi.Output<string[]>;
  /** With etcd: PEM of the CA clients verify the members with. */
  readonly etcdCaCertPem?: pulumi.Output<string>;
  /** With etcd: a client certificate every member accepts. */
  readonly etcdClientCertPem?: pulumi.Output<string>;
  /** With etcd: its private key (a secret). */
  readonly etcdClientKeyPem?: pulumi.Output<string>;

  constructor(name: string, args: SwarmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:index:SwarmCluster", name, {}, opts);
    // Checked before anything is created: a bad role registers no host.
    const resolved = resolveOrFail(this, () => resolveSwarmClusterArgs(name, args));
    const access = createClientAccess(name, args, this);
    const engine = engineConfigOf(args);
    const hosts = resolved.hosts.map(
      (host) =>
        new LibraryDockerHost(
          host.name,
          {
            address: host.address,
            privateAddress: host.privateAddress,
            port: host.port,
            user: host.user,
            privateKey: args.privateKey,
            hostKey: host.hostKey,
            ca: access.ca,
            engine,
          },
          { parent: this },
        ),
    );
    const swarm = new LibrarySwarmCluster(
      `${name}-swarm`,
      { engines: hosts.map((host) => host.engine), config: resolved.swarm },
      { parent: this },
    );
    this.dockerHost = hosts[0].dockerHost;
    this.dockerHosts = pulumi
      .all(hosts.map((host) => host.dockerHost))
      .apply((urls) => Object.fromEntries(resolved.hosts.map((host, i) => [host.name, urls[i]])));
    this.caCertPem = access.caCertPem;
    this.clientCertPem = access.clientCertPem;
    this.clientKeyPem = access.clientKeyPem;
    this.managerAddress = swarm.managerAddress;
    this.clusterId = swarm.clusterId;
    this.nodes = swarm.nodes;
    this.networks = swarm.networks;
    this.workerJoinToken = swarm.workerJoinToken;
    this.managerJoinToken = swarm.managerJoinToken;
    if (resolved.registry !== undefined) {
      const registry = new PrivateRegistry(
        `${name}-registry`,
        {
          engines: hosts.map((host) => host.engine),
          config: resolved.registry,
          password: args.registry?.password,
        },
        { parent: this },
      );
      this.registryUrl = registry.url;
      this.registryUsername = registry.username;
      this.registryPassword = registry.password;
      this.registryCaCertPem = registry.caCertPem;
    }
    if (resolved.etcd !== undefined) {
      const etcd = new EtcdCluster(
        `${name}-etcd`,
        { machines: hosts.map((host) => host.machine), config: resolved.etcd },
        { parent: this },
      );
      this.etcdEndpoints = etcd.endpoints;
      this.etcdCaCertPem = etcd.caPem;
      this.etcdClientCertPem = etcd.clientCertPem;
      this.etcdClientKeyPem = etcd.clientKeyPem;
    }
    this.registerOutputs({
      dockerHost: this.dockerHost,
      dockerHosts: this.dockerHosts,
      caCertPem: this.caCertPem,
      clientCertPem: this.clientCertPem,
      clientKeyPem: this.clientKeyPem,
      managerAddress: this.managerAddress,
      clusterId: this.clusterId,
      nodes: this.nodes,
      networks: this.networks,
      workerJoinToken: this.workerJoinToken,
      managerJoinToken: this.managerJoinToken,
      registryUrl: this.registryUrl,
      registryUsername: this.registryUsername,
      registryPassword: this.registryPassword,
      registryCaCertPem: this.registryCaCertPem,
      etcdEndpoints: this.etcdEndpoints,
      etcdCaCertPem: this.etcdCaCertPem,
      etcdClientCertPem: this.etcdClientCertPem,
      etcdClientKeyPem: this.etcdClientKeyPem,
    });
  }
}
