import * as pulumi from "@pulumi/pulumi";
import { Certificate } from "../../provision/pki/certificate";
import { RevocationList } from "../../provision/pki/revocation-list";
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
import { resolveOrFail } from "../../provision/dynamic/resource";
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
 * with client-certificate authentication on the client and peer URLs. It has its own two CAs, one
 * for the peers and one for the clients, so that no etcd key opens anything else (the Docker API
 * trusts another CA), and a peer key is no client; each CA's revocation list names the
 * certificates of hosts that left, which the members check on every connection. Members join and leave one
 * at a time through `member add` / `member remove` (each member's resource depends on the one
 * before it), and nothing counts as done until every member is healthy.
 */
export class EtcdCluster extends pulumi.ComponentResource {
  /** Client URLs (https://<private address>:<port>) of every member, once all are healthy. */
  readonly endpoints: pulumi.Output<string[]>;
  /** Client URLs at the hosts' public addresses, for clients outside the hosts' network. */
  readonly publicEndpoints: pulumi.Output<string[]>;
  /** The client CA: clients verify the members with it, and it signs the client certificates. */
  readonly clientCa: Certificate;
  /** The peer CA: it signs the members' peer certificates, trusted on the peer port only. */
  readonly peerCa: Certificate;
  /** The CA certificate clients verify the members with (the client CA's). */
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
  /** Each member's peer certificate, by host name. */
  readonly memberPeerCertificates: Record<string, Certificate> = {};
  readonly config: EtcdConfig;
  private readonly dockerClients = new Map<string, EtcdDockerClient>();
  private readonly health: EtcdClusterHealth;

  constructor(name: string, args: EtcdClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:etcd:EtcdCluster", name, {}, opts);
    const { config, lifetime, selected } = resolveOrFail(this, () => {
      const config = resolveEtcdConfig(args.config);
      return {
        config,
        lifetime: certificateLifetime(resolveCertificatesConfig(args.certificates)),
        selected: selectEtcdMemberHosts(args.machines, config.members),
      };
    });
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
    // The CAs are not renewed by `up`: a new CA restarts every member (see EtcdMember's update).
    const authority = (use: string) =>
      new Certificate(
        `${name}-${use}-ca`,
        { kind: "ca", commonName: `dockfleet ${name} ${use} CA` },
        { parent: this },
      );
    this.peerCa = authority("peer");
    this.clientCa = authority("client");
    const peerCa = { certPem: this.peerCa.certPem, keyPem: this.peerCa.keyPem };
    const clientCa = { certPem: this.clientCa.certPem, keyPem: this.clientCa.keyPem };
    const clientCertificate = (this.clientCertificate = new Certificate(
      `${name}-client-cert`,
      { kind: "client", commonName: `${name}-etcd-client`, ca: clientCa, ...lifetime },
      { parent: this },
    ));
    // Docker's cluster store: a client certificate per host, revoked when the host leaves.
    const dockerClientCertificates = new Map(
      (config.dockerClusterStore ? args.machines : []).map((machine) => [
        machine.name,
        new Certificate(
          `${name}-${machine.name}-docker-client-cert`,
          { kind: "client", commonName: `${machine.name}-docker`, ca: clientCa, ...lifetime },
          { parent: this },
        ),
      ]),
    );

    // Server and client: a member serves, calls its peers, and its etcdctl is a client.
    const memberCertificate = (machine: Machine, suffix: string, ca: typeof clientCa) =>
      new Certificate(
        `${name}-${machine.name}-${suffix}`,
        {
          kind: "server",
          usage: "server-and-client",
          commonName: machine.name,
          ...machineSubjectAltNames(machine),
          ca,
          ...lifetime,
          host: machine.name,
        },
        { parent: this },
      );
    const certificates = selected.map((machine) => memberCertificate(machine, "cert", clientCa));
    const peerCertificates = selected.map((machine) =>
      memberCertificate(machine, "peer-cert", peerCa),
    );
    const peerCrl = new RevocationList(
      `${name}-peer-crl`,
      { ca: peerCa, issued: peerCertificates.map((certificate) => certificate.issued) },
      { parent: this },
    );
    const clientCrl = new RevocationList(
      `${name}-client-crl`,
      {
        ca: clientCa,
        issued: [clientCertificate, ...certificates, ...dockerClientCertificates.values()].map(
          (certificate) => certificate.issued,
        ),
      },
      { parent: this },
    );

    const installs: EtcdInstall[] = [];
    this.members = [];
    selected.forEach((machine, index) => {
      const certificate = certificates[index];
      this.memberCertificates[machine.name] = certificate;
      this.memberPeerCertificates[machine.name] = peerCertificates[index];
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
          caCertPem: clientCa.certPem,
          certPem: certificate.certPem,
          keyPem: certificate.keyPem,
          clientCrlPem: clientCrl.crlPem,
          peerCaCertPem: peerCa.certPem,
          peerCertPem: peerCertificates[index].certPem,
          peerKeyPem: peerCertificates[index].keyPem,
          peerCrlPem: peerCrl.crlPem,
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
        caCertPem: clientCa.certPem,
        peerCaCertPem: peerCa.certPem,
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
    this.caPem = clientCa.certPem;
    this.clientCertPem = clientCertificate.certPem;
    this.clientKeyPem = pulumi.secret(clientCertificate.keyPem);

    for (const machine of args.machines) {
      const dockerClientCertificate = dockerClientCertificates.get(machine.name);
      if (dockerClientCertificate === undefined) continue;
      this.dockerClients.set(
        machine.name,
        new EtcdDockerClient(
          `${name}-${machine.name}-docker-client`,
          {
            host: machine.name,
            connection: machine.ssh,
            logUrn,
            caCertPem: clientCa.certPem,
            certPem: dockerClientCertificate.certPem,
            keyPem: dockerClientCertificate.keyPem,
          },
          { parent: this },
        ),
      );
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
