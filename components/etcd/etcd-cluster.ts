import * as pulumi from "@pulumi/pulumi";
import { Certificate } from "../../provision/pki/certificate";
import {
  certificateLifetime,
  type CertificatesConfigInput,
  resolveCertificatesConfig,
} from "../../provision/pki/config";
import { EtcdBootstrap, EtcdClusterHealth } from "./resources/cluster-health";
import { EtcdDockerClient } from "./resources/docker-client";
import { EtcdInstall } from "./resources/etcd-install";
import { EtcdMember } from "./resources/etcd-member";
import { logUrnOf } from "../../provision/dynamic/log";
import { readScript } from "../../provision/dynamic/remote-step";
import type { JsonValue } from "../engine/plan";
import {
  etcdPlanWarnings,
  renderDockerClusterStoreOptions,
  renderEtcdInstallEnv,
  renderEtcdUrl,
  selectEtcdMemberHosts,
} from "./plan";
import { type Machine, machineSubjectAltNames, privateIpAddress } from "../machines/machine";
import { type EtcdConfig, type EtcdConfigInput, resolveEtcdConfig } from "./config";

export interface EtcdClusterArgs {
  /**
   * The environment's hosts, from any driver. Members run on those `config.members` selects;
   * with `config.dockerClusterStore`, every host gets the client certificate Docker uses.
   */
  machines: Machine[];
  /** dockfleet's CA: it signs the members' and the client's certificates, and clients must chain to it. */
  ca: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
  /** The `dockfleet:etcd` settings (see docs/components/etcd.md); `enabled` is not read here. @default {} */
  config?: EtcdConfigInput;
  /**
   * The members' and the client's certificate lifetime and renewal window (`dockfleet:certificates`):
   * a renewed member certificate restarts that member only, one member at a time.
   * @default { duration: "825d", renewBefore: "30d" }
   */
  certificates?: CertificatesConfigInput;
}

/**
 * An etcd cluster on the environment's hosts, as the etcd clustering guide sets one up by hand:
 * a systemd service per member (distribution package or release tarball), static bootstrap, TLS
 * with client-certificate authentication on the client and peer URLs. Members join and leave one
 * at a time through `member add` / `member remove` (each member's resource depends on the one
 * before it), and nothing counts as done until every member is healthy.
 */
export class EtcdCluster extends pulumi.ComponentResource {
  /** Client URLs (https://<private address>:<port>) of every member, once all are healthy. */
  readonly endpoints: pulumi.Output<string[]>;
  /** Client URLs at the hosts' public addresses, for clients outside the hosts' network. */
  readonly publicEndpoints: pulumi.Output<string[]>;
  /** The CA certificate clients verify the members with. */
  readonly caPem: pulumi.Output<string>;
  /** The client certificate every member accepts (its expiry is a stack output). */
  readonly clientCertificate: Certificate;
  /** A client certificate every member accepts. */
  readonly clientCertPem: pulumi.Output<string>;
  /** Its private key (a secret). */
  readonly clientKeyPem: pulumi.Output<string>;
  /** The hosts running a member, in the order they joined. */
  readonly memberNames: string[];
  readonly members: EtcdMember[];
  /** Each member's certificate, by host name (their expiry is a stack output). */
  readonly memberCertificates: Record<string, Certificate> = {};
  readonly config: EtcdConfig;
  private readonly dockerClients = new Map<string, EtcdDockerClient>();
  private readonly health: EtcdClusterHealth;

  constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:etcd:EtcdCluster", name, {}, opts);
    let config: EtcdConfig;
    let selected: Machine[];
    let lifetime: ReturnType<typeof certificateLifetime>;
    try {
      config = resolveEtcdConfig(args.config);
      lifetime = certificateLifetime(resolveCertificatesConfig(args.certificates));
      selected = selectEtcdMemberHosts(args.machines, config.members);
    } catch (error) {
      throw new pulumi.ResourceError((error as Error).message, this);
    }
    this.config = config;
    for (const warning of etcdPlanWarnings(selected.length)) pulumi.log.warn(warning, this);
    this.memberNames = selected.map((machine) => machine.name);
    const logUrn = logUrnOf(this);
    const token = config.clusterToken ?? `dockfleet-${name}`;
    const privateAddresses = selected.map((machine) => privateIpAddress(machine, "etcd"));
    const clientUrls = privateAddresses.map((privateAddress) =>
      privateAddress.apply((address) => renderEtcdUrl(address, config.clientPort)),
    );
    const bootstrap = new EtcdBootstrap(
      `${name}-bootstrap`,
      {
        token,
        peers: pulumi.all(privateAddresses).apply((addresses) =>
          addresses.map((address, index) => ({
            name: selected[index].name,
            peerUrl: renderEtcdUrl(address, config.peerPort),
          })),
        ),
      },
      { parent: this },
    );
    const clientCertificate = (this.clientCertificate = new Certificate(
      `${name}-client-cert`,
      { kind: "client", commonName: `${name}-etcd-client`, ca: args.ca, ...lifetime },
      { parent: this },
    ));

    const installs: EtcdInstall[] = [];
    this.members = [];
    selected.forEach((machine, index) => {
      // Server and client: a member both serves and calls its peers over TLS with client-cert-auth.
      const certificate = new Certificate(
        `${name}-${machine.name}-cert`,
        {
          kind: "server",
          usage: "server-and-client",
          commonName: machine.name,
          ...machineSubjectAltNames(machine),
          ca: args.ca,
          ...lifetime,
          host: machine.name,
        },
        { parent: this },
      );
      this.memberCertificates[machine.name] = certificate;
      // Installs run on every host at once; only membership changes are ordered.
      const install = new EtcdInstall(
        `${name}-${machine.name}-install`,
        {
          host: machine.name,
          connection: machine.ssh,
          logUrn,
          script: readScript(__dirname, "install-etcd.sh"),
          env: renderEtcdInstallEnv(config),
          removeOnDestroy: config.removeOnDestroy,
        },
        { parent: this },
      );
      installs.push(install);
      const previous = this.members.at(-1);
      const member = new EtcdMember(
        `${name}-${machine.name}-member`,
        {
          host: machine.name,
          connection: machine.ssh,
          logUrn,
          script: readScript(__dirname, "configure-etcd.sh"),
          name: machine.name,
          privateAddress: privateAddresses[index],
          clientPort: config.clientPort,
          peerPort: config.peerPort,
          dataDir: config.dataDir,
          token,
          heartbeatIntervalMs: config.heartbeatIntervalMs,
          electionTimeoutMs: config.electionTimeoutMs,
          enableV2: config.dockerClusterStore,
          extraFlags: config.extraFlags,
          caCertPem: args.ca.certPem,
          certPem: certificate.certPem,
          keyPem: certificate.keyPem,
          etcdctlPath: install.etcdctlPath,
          bootstrapPeers: bootstrap.peers,
          peerEndpoints: clientUrls.filter((_, other) => other !== index),
          healthTimeoutSeconds: config.healthTimeoutSeconds,
        },
        // Each member waits for the one before it: membership changes happen one at a time.
        { parent: this, dependsOn: previous === undefined ? [install] : [install, previous] },
      );
      this.members.push(member);
    });

    this.health = new EtcdClusterHealth(
      `${name}-health`,
      {
        host: selected[0].name,
        connection: selected[0].ssh,
        logUrn,
        etcdctlPath: installs[0].etcdctlPath,
        endpoints: clientUrls,
        memberNames: this.memberNames,
        timeoutSeconds: config.healthTimeoutSeconds,
      },
      { parent: this, dependsOn: this.members },
    );

    this.endpoints = pulumi.all([this.health.id, ...clientUrls]).apply(([, ...urls]) => urls);
    this.publicEndpoints = pulumi
      .all([this.health.id, ...selected.map((machine) => machine.publicAddress)])
      .apply(([, ...addresses]) =>
        addresses.map((address) => renderEtcdUrl(address, config.clientPort)),
      );
    this.caPem = pulumi.output(args.ca.certPem);
    this.clientCertPem = clientCertificate.certPem;
    this.clientKeyPem = pulumi.secret(clientCertificate.keyPem);

    if (config.dockerClusterStore) {
      for (const machine of args.machines) {
        this.dockerClients.set(
          machine.name,
          new EtcdDockerClient(
            `${name}-${machine.name}-docker-client`,
            {
              host: machine.name,
              connection: machine.ssh,
              logUrn,
              caCertPem: args.ca.certPem,
              certPem: clientCertificate.certPem,
              keyPem: clientCertificate.keyPem,
            },
            { parent: this },
          ),
        );
      }
    }

    this.registerOutputs({
      endpoints: this.endpoints,
      publicEndpoints: this.publicEndpoints,
      memberNames: this.memberNames,
    });
  }

  /**
   * With `dockerClusterStore` on: for DockerEngine's `versionedDaemonOptions`, the daemon.json
   * options that make the engine on `machine` use this cluster as its cluster store, advertising
   * its API at <private address>:<tlsPort>. The options fail the deployment, naming the host and
   * version, when the engine is 23 or newer. Undefined when the option is off.
   */
  dockerClusterStoreOptions(
    machine: Machine,
    tlsPort: number,
  ): ((engineVersion: string) => pulumi.Output<Record<string, JsonValue>>) | undefined {
    const files = this.dockerClients.get(machine.name);
    if (files === undefined) return undefined;
    return (engineVersion) =>
      pulumi
        .all([
          this.endpoints,
          privateIpAddress(machine, "Docker's cluster store (etcd.dockerClusterStore)"),
          files.id,
        ])
        .apply(([endpoints, address]) =>
          renderDockerClusterStoreOptions({
            host: machine.name,
            engineVersion,
            endpoints,
            advertise: `${address}:${tlsPort}`,
          }),
        );
  }
}
