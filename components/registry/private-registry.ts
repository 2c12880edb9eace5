import * as pulumi from "@pulumi/pulumi";
import { Certificate } from "../../provision/pki/certificate";
import {
  certificateLifetime,
  type CertificatesConfigInput,
  resolveCertificatesConfig,
} from "../../provision/pki/config";
import { logUrnOf } from "../../provision/dynamic/log";
import { readScript } from "../../provision/dynamic/remote-step";
import { resolveOrFail } from "../../provision/dynamic/resource";
import { RegistryPassword } from "./resources/registry-password";
import { RegistryServer } from "./resources/registry-server";
import { RegistryTrust } from "./resources/registry-trust";
import {
  registryAddress,
  registryHostUsername,
  renderRegistryConfigYml,
  renderRegistryServerEnv,
  renderRegistryServiceDropIn,
} from "./plan";
import type { DockerEngine } from "../engine/docker-engine";
import { engineNamed } from "../engine/engine-named";
import { machineSubjectAltNames, privateIpAddress } from "../machines/machine";
import { type RegistryConfig, type RegistryConfigInput, resolveRegistryConfig } from "./config";

export interface PrivateRegistryArgs {
  /** Every engine of the environment: each trusts the registry (certs.d) and, with loginOnHosts, logs in. */
  engines: DockerEngine[];
  /**
   * The engine whose host runs the registry. Overrides `config.host`.
   * @default the engine named by config.host, else the first of `engines`
   */
  host?: DockerEngine;
  /**
   * The `dockfleet:registry` settings (see docs/components/registry.md), defaults applied here by
   * resolveRegistryConfig; `enabled` is not read here. @default {}
   */
  config?: RegistryConfigInput;
  /**
   * The htpasswd password, when it comes from elsewhere than config.password (a secret).
   * @default config.password, else a generated one (RegistryPassword, kept in state as a secret)
   */
  password?: pulumi.Input<string>;
  /**
   * The registry certificate's lifetime and renewal window (`dockfleet:certificates`): a renewed
   * certificate restarts the registry only. @default { duration: "825d", renewBefore: "30d" }
   */
  certificates?: CertificatesConfigInput;
  /**
   * Serve the registry's Prometheus metrics (its debug listener, plain HTTP) on this port of its
   * host's private address, for the Monitoring component. @default no metrics endpoint
   */
  metricsPort?: number;
}

/** The registry's settings with every default applied, and the engine that runs it. */
export interface ResolvedPrivateRegistryArgs {
  config: RegistryConfig;
  host: DockerEngine;
}

/**
 * Pure: applies the registry config's defaults and picks the host. Throws a ConfigError naming
 * the key, the value and what is allowed.
 */
export function resolvePrivateRegistryArgs(args: PrivateRegistryArgs): ResolvedPrivateRegistryArgs {
  const config = resolveRegistryConfig(args.config);
  if (args.engines.length === 0) {
    throw new Error("PrivateRegistry: engines is empty; give the environment's DockerEngines");
  }
  return {
    config,
    host: args.host ?? engineNamed(args.engines, config.host, "registry") ?? args.engines[0],
  };
}

/**
 * A private Docker registry (distribution v2) on one host: TLS from a CA of its own, htpasswd
 * authentication (a login per host, and the operator's), data in a host directory, started at boot; every engine trusts it
 * through /etc/docker/certs.d and logs in. With `proxy`, a pull-through cache usable as
 * engine.registryMirrors.
 */
export class PrivateRegistry extends pulumi.ComponentResource {
  /** "address:port" on the host's private address: what engines pull from ("<url>/app:1"). */
  readonly url: pulumi.Output<string>;
  /**
   * "address:port" on the host's public address (for the operator). The registry listens on the
   * private address only; this reaches it where the cloud forwards the public one there.
   */
  readonly publicUrl: pulumi.Output<string>;
  /** "https://<url>": the entry for engine.registryMirrors (in proxy mode). */
  readonly mirrorUrl: pulumi.Output<string>;
  /** The htpasswd user. */
  readonly username: pulumi.Output<string>;
  /** Its password (a secret); "" with authentication off. */
  readonly password: pulumi.Output<string>;
  /** The registry's own CA: it signs the registry's certificate, and nothing else. */
  readonly ca: Certificate;
  /** PEM of the CA that signed the registry's certificate (certs.d/<url>/ca.crt). */
  readonly caCertPem: pulumi.Output<string>;
  /** Name of the host that runs it. */
  readonly hostName: string;
  /** Its server certificate (the expiry is a stack output). */
  readonly certificate: Certificate;
  /** "address:port" of its metrics endpoint, with `metricsPort`. */
  readonly metricsAddress?: pulumi.Output<string>;

  constructor(name: string, args: PrivateRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:registry:PrivateRegistry", name, {}, opts);
    const { resolved, lifetime } = resolveOrFail(this, () => ({
      resolved: resolvePrivateRegistryArgs(args),
      lifetime: certificateLifetime(resolveCertificatesConfig(args.certificates)),
    }));
    const { config, host } = resolved;
    const { authentication } = config;
    const machine = host.machine;
    this.hostName = machine.name;

    // The registry's own CA: the hosts trust it for this registry only (certs.d/<address>).
    this.ca = new Certificate(
      `${name}-ca`,
      { kind: "ca", commonName: `dockfleet ${name} CA` },
      { parent: this },
    );
    const certificate = (this.certificate = new Certificate(
      `${name}-cert`,
      {
        kind: "server",
        commonName: `${machine.name} registry`,
        ...machineSubjectAltNames(machine),
        ca: { certPem: this.ca.certPem, keyPem: this.ca.keyPem },
        ...lifetime,
        host: machine.name,
      },
      { parent: this },
    ));

    // Generated even while authentication is off, so that turning it back on (leaving pull-through
    // mode) brings back the same password.
    const configuredPassword = args.password ?? config.password;
    const anyPassword = pulumi.secret(
      configuredPassword ?? new RegistryPassword(`${name}-password`, {}, { parent: this }).value,
    );
    const password: pulumi.Output<string> = authentication ? anyPassword : pulumi.output("");

    // Each host logs in as its own user, with its own password, so that a host that leaves the
    // environment loses its login (its line leaves htpasswd); the operator's user is the other.
    // Its password is generated even without a login, so that a login turned back on reuses it.
    const login = authentication && config.loginOnHosts;
    const hostLogins = new Map(
      args.engines.map((engine) => {
        const host = engine.machine.name;
        const hostPassword = new RegistryPassword(`${name}-password-${host}`, {}, { parent: this });
        return [
          host,
          { username: registryHostUsername(config.username, host), password: hostPassword.value },
        ];
      }),
    );
    const logins = authentication
      ? pulumi.all([
          { username: config.username, password: anyPassword },
          ...(login ? hostLogins.values() : []),
        ])
      : [];

    const proxy = config.proxy;
    const privateIp = privateIpAddress(machine, "the registry");
    const server = new RegistryServer(
      `${name}-server`,
      {
        host: machine.name,
        connection: machine.ssh,
        logUrn: logUrnOf(this),
        script: readScript(__dirname, "ensure-registry.sh"),
        env: privateIp.apply((listenAddress) =>
          renderRegistryServerEnv({
            runAs: config.runAs,
            port: config.port,
            listenAddress,
            storagePath: config.storagePath,
            image: config.image,
            authentication,
            metricsPort: args.metricsPort,
          }),
        ),
        configYml: privateIp.apply((listenAddress) =>
          renderRegistryConfigYml({
            runAs: config.runAs,
            storagePath: config.storagePath,
            port: config.port,
            listenAddress,
            authentication,
            deleteEnabled: config.deleteEnabled,
            proxy,
            metricsPort: args.metricsPort,
          }),
        ),
        configYmlIsSecret: proxy?.password !== undefined,
        serviceDropIn: renderRegistryServiceDropIn(),
        caCertPem: this.ca.certPem,
        certPem: certificate.certPem,
        keyPem: certificate.keyPem,
        logins,
        removeDataOnDestroy: config.removeDataOnDestroy,
      },
      // Docker must be there first in container mode; in service mode this orders the installs.
      { parent: this, dependsOn: [host] },
    );

    this.url = pulumi
      .all([privateIp, server.id])
      .apply(([address]) => registryAddress(address, config.port));
    this.publicUrl = pulumi
      .all([machine.publicAddress, server.id])
      .apply(([address]) => registryAddress(address, config.port));
    this.mirrorUrl = this.url.apply((url) => `https://${url}`);
    const metricsPort = args.metricsPort;
    if (metricsPort !== undefined) {
      this.metricsAddress = pulumi
        .all([privateIp, server.id])
        .apply(([address]) => registryAddress(address, metricsPort));
    }

    for (const engine of args.engines) {
      const hostLogin = login ? hostLogins.get(engine.machine.name) : undefined;
      new RegistryTrust(
        `${name}-trust-${engine.machine.name}`,
        {
          host: engine.machine.name,
          connection: engine.machine.ssh,
          logUrn: logUrnOf(this),
          script: readScript(__dirname, "trust-registry.sh"),
          addresses: pulumi.all([this.url, this.publicUrl]).apply((urls) => [...new Set(urls)]),
          caCertPem: this.ca.certPem,
          loginAddress: hostLogin ? this.url : "",
          username: hostLogin?.username ?? config.username,
          password: hostLogin?.password ?? "",
        },
        { parent: this, dependsOn: [engine, server] },
      );
    }

    this.username = pulumi.output(config.username);
    this.password = password;
    this.caCertPem = this.ca.certPem;
    this.registerOutputs({
      url: this.url,
      publicUrl: this.publicUrl,
      mirrorUrl: this.mirrorUrl,
      username: this.username,
      password: this.password,
      caCertPem: this.caCertPem,
    });
  }
}
