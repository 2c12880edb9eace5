import * as pulumi from "@pulumi/pulumi";
import type { Certificate } from "../../provision/pki/certificate";
import { CounterApp, WordPressApp } from "../apps";
import { Monitoring } from "../monitoring";
import { PrivateRegistry } from "../registry";
import { SwarmCluster } from "../swarm";
import { resolveStackConfig } from "./config";
import { Environment } from "./environment";
import { CLIENT_FILE_NAMES, CLIENT_FILES_ROOT, type StackOutputsInput } from "./outputs";

/**
 * The program (index.ts runs it): one environment per stack, from the stack's validated config,
 * and the stack's outputs, typed by their one declaration (outputs.ts). Validation runs before
 * any resource is registered, so a bad stack file fails the preview with nothing created.
 */
export function dockfleetProgram(): StackOutputsInput {
  const stack = pulumi.getStack();
  const resolved = resolveStackConfig(pulumi.runtime.allConfig());
  // live-restore by default where it can be: Docker refuses swarm mode with it.
  const liveRestore = resolved.engine.liveRestore ?? !resolved.swarm.enabled;
  const config = { ...resolved, engine: { ...resolved.engine, liveRestore } };
  const dockfleetConfig = new pulumi.Config("dockfleet");

  const environment = new Environment(stack, {
    stack,
    config,
    // Set by bin/up, which builds the image first (content-hashed tag).
    hostImage: process.env.DOCKFLEET_HOST_IMAGE,
    dockerHostImage: process.env.DOCKFLEET_DOCKER_HOST_IMAGE,
    vmImage: process.env.DOCKFLEET_VM_IMAGE,
    sshPrivateKey: dockfleetConfig.getSecret("sshPrivateKey"),
    // Set by `dockfleet upgrade` (cli/upgrade.ts) for this one run of bin/up.
    upgrade:
      process.env.DOCKFLEET_UPGRADE === undefined
        ? undefined
        : {
            request: process.env.DOCKFLEET_UPGRADE,
            hosts: (process.env.DOCKFLEET_UPGRADE_HOSTS ?? "").split(",").filter(Boolean),
          },
  });

  // Cluster services on the engines, each from the one before: the swarm, then the registry.
  // Each component takes its resolved section of the stack config as its `config`.
  const swarm = config.swarm.enabled
    ? new SwarmCluster("swarm", { engines: environment.engines, config: config.swarm })
    : undefined;
  const registry = config.registry.enabled
    ? new PrivateRegistry("registry", {
        engines: environment.engines,
        config: config.registry,
        certificates: config.certificates,
        metricsPort: config.monitoring.enabled ? config.monitoring.registryMetricsPort : undefined,
      })
    : undefined;
  // Prometheus's image comes from the registry (the schema refuses monitoring without it).
  const monitoring =
    registry && config.monitoring.enabled
      ? new Monitoring("monitoring", {
          engines: environment.engines,
          registry,
          etcd: environment.etcd,
          config: config.monitoring,
        })
      : undefined;

  // The sample apps, on the swarm, from images pushed into the registry.
  const { enabled: appsEnabled, counter, wordpress, ...appSettings } = config.apps;
  const appRegistry = registry && {
    url: registry.url,
    username: registry.username,
    password: registry.password,
    caPem: registry.caCertPem,
  };
  const counterApp =
    swarm && appsEnabled && counter.enabled
      ? new CounterApp("counter", {
          swarm,
          registry: appRegistry,
          ...appSettings,
          settings: counter,
        })
      : undefined;
  const wordpressApp =
    swarm && appsEnabled && wordpress.enabled
      ? new WordPressApp("wordpress", {
          swarm,
          registry: appRegistry,
          ...appSettings,
          settings: wordpress,
        })
      : undefined;

  // What `dockfleet ls` shows of each certificate, and `regenerate-certs` changes.
  const certificateOutput = (use: string, certificate: Certificate) => ({
    use,
    notAfter: certificate.notAfter,
    serialNumber: certificate.serialNumber,
  });
  const hostCertificates = (hostName: string, index: number) => [
    certificateOutput("docker", environment.engines[index].serverCertificate),
    ...(environment.etcd?.memberCertificates[hostName] !== undefined
      ? [
          certificateOutput("etcd", environment.etcd.memberCertificates[hostName]),
          certificateOutput("etcd-peer", environment.etcd.memberPeerCertificates[hostName]),
        ]
      : []),
    ...(registry?.hostName === hostName
      ? [certificateOutput("registry", registry.certificate)]
      : []),
  ];

  /** Where bin/up and the CLI write the SSH key (mode 0600), for the ssh commands below. */
  const keyFile = `${CLIENT_FILES_ROOT}/${stack}/${CLIENT_FILE_NAMES.sshKey}`;

  const hosts = environment.hostSummaries().map((host, index) => {
    // What `dockfleet ssh` and `ssh-config` need: the login and the pinned host key (public), taken
    // out of the machine's SSH connection, a secret as a whole because it holds the private key.
    // hostSummaries() follows environment.engines, so the index names the same host.
    const ssh = environment.engines[index].machine.ssh.apply((connection) => ({
      user: connection.user,
      port: connection.port,
      hostKey: connection.hostKey,
    }));
    const sshUser = pulumi.unsecret(ssh.user);
    const sshPort = pulumi.unsecret(ssh.port);
    return {
      ...host,
      sshUser,
      sshPort,
      hostKey: pulumi.unsecret(ssh.hostKey),
      sshCommand: pulumi.interpolate`ssh -i ${keyFile} -p ${sshPort} ${sshUser}@${host.address}`,
      certificates: hostCertificates(host.name, index),
    };
  });

  return {
    hosts,
    /** Docker client TLS material for every host (DOCKER_CERT_PATH files ca.pem, cert.pem, key.pem). */
    dockerTls: {
      caPem: environment.ca.certPem,
      certPem: environment.clientCertificate.certPem,
      keyPem: pulumi.secret(environment.clientCertificate.keyPem),
    },
    sshPrivateKey: environment.sshPrivateKey,
    /** The etcd cluster's client endpoints and credentials (with `etcd.enabled`). */
    etcd: environment.etcd && {
      endpoints: environment.etcd.endpoints,
      caPem: environment.etcd.caPem,
      clientCertPem: environment.etcd.clientCertPem,
      clientKeyPem: pulumi.secret(environment.etcd.clientKeyPem),
    },
    /** The swarm's manager, for `docker -H` or `docker swarm join` (with `swarm.enabled`). */
    swarmManager: swarm && {
      name: swarm.manager.name,
      address: swarm.managerAddress,
      nodes: swarm.nodes,
    },
    /** The private registry (with `registry.enabled`): `docker login <url>` with these. */
    privateRegistry: registry && {
      url: registry.url,
      username: registry.username,
      password: pulumi.secret(registry.password),
    },
    /** Prometheus's UI and API, basic auth with these (with `monitoring.enabled`). */
    monitoring: monitoring && {
      url: monitoring.url,
      host: monitoring.hostName,
      username: monitoring.username,
      password: pulumi.secret(monitoring.password),
    },
    /** Where the sample apps answer (with `apps.enabled`). */
    apps: {
      counter: counterApp?.url,
      wordpress: wordpressApp?.installUrl,
    },
    /** The CAs, one per trust domain, and the operator's client certificates. */
    certificates: [
      certificateOutput("docker-ca", environment.ca),
      certificateOutput("docker-client", environment.clientCertificate),
      ...(environment.etcd
        ? [
            certificateOutput("etcd-peer-ca", environment.etcd.peerCa),
            certificateOutput("etcd-client-ca", environment.etcd.clientCa),
            certificateOutput("etcd-client", environment.etcd.clientCertificate),
          ]
        : []),
      ...(registry ? [certificateOutput("registry-ca", registry.ca)] : []),
    ],
  };
}
