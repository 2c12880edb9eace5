/**
 * Pure rendering for the private registry: its config.yml (distribution 2.x), the systemd drop-in
 * for Debian's docker-registry service, the parameters of ensure-registry.sh, and where Docker
 * engines look for a registry's CA (certs.d). Unit tests pin all of it.
 */

/** How the registry runs on its host. */
export type RegistryRunAs = "service" | "container";

/** Where ensure-registry.sh installs the registry's files on the host. */
export const REGISTRY_HOST_CONFIG_DIR = "/etc/dockfleet/registry";
/** Where the provider uploads files before running ensure-registry.sh (mode 0700). */
export const REGISTRY_STAGING_DIR = "/etc/dockfleet/registry.staged";
/** Where the provider uploads the CA (and login password) before trust-registry.sh. */
export const REGISTRY_TRUST_STAGING_DIR = "/etc/docker/dockfleet-registry.staged";
/** The drop-in that points Debian's docker-registry.service at dockfleet's config. */
export const REGISTRY_SERVICE_DROP_IN_PATH =
  "/etc/systemd/system/docker-registry.service.d/dockfleet.conf";
/** Name of the registry container (runAs "container"). */
export const REGISTRY_CONTAINER_NAME = "dockfleet-registry";
/** Inside the container, the config dir is mounted here and the storage here. */
const CONTAINER_CONFIG_DIR = "/etc/docker/registry";
const CONTAINER_STORAGE_PATH = "/var/lib/registry";

/** Paths as the registry process sees them (they differ inside a container). */
export interface RegistryProcessPaths {
  configDir: string;
  storagePath: string;
}

/** Pure: the paths config.yml names, for a run mode and the host's storage path. */
export function registryProcessPaths(
  runAs: RegistryRunAs,
  storagePath: string,
): RegistryProcessPaths {
  return runAs === "container"
    ? { configDir: CONTAINER_CONFIG_DIR, storagePath: CONTAINER_STORAGE_PATH }
    : { configDir: REGISTRY_HOST_CONFIG_DIR, storagePath };
}

export interface RegistryConfigYmlOptions {
  runAs: RegistryRunAs;
  /** Host directory of the data (the container mounts it). */
  storagePath: string;
  /** Port the registry listens on (inside the container: the same port, published 1:1). */
  port: number;
  /**
   * The host's private address, the only one the registry listens on: engines pull from it, and
   * no other interface (a public one, docker0) exposes it.
   */
  listenAddress: string;
  /** htpasswd authentication on (the file is `<configDir>/htpasswd`). */
  authentication: boolean;
  deleteEnabled: boolean;
  /** Pull-through cache mode. */
  proxy?: { remoteUrl: string; username?: string; password?: string };
  /**
   * Serve Prometheus metrics (distribution's debug listener, plain HTTP) on this port of
   * listenAddress, for the Monitoring component. @default no debug listener
   */
  metricsPort?: number;
}

/** YAML double-quoted scalar: JSON's string syntax is valid YAML. */
function yamlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * Renders the registry's config.yml. Byte-stable for the same options (an unchanged config does
 * not restart the registry). TLS certificate and key are `<configDir>/tls/cert.pem|key.pem`.
 */
export function renderRegistryConfigYml(options: RegistryConfigYmlOptions): string {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new Error(
      `renderRegistryConfigYml: port is ${JSON.stringify(options.port)}; give a TCP port from 1 to 65535.`,
    );
  }
  if (!options.storagePath.startsWith("/")) {
    throw new Error(
      `renderRegistryConfigYml: storagePath is ${JSON.stringify(options.storagePath)}; give an absolute path on the host.`,
    );
  }
  const proxy = options.proxy;
  if (proxy && !/^https?:\/\/[^\s/]+/.test(proxy.remoteUrl)) {
    throw new Error(
      `renderRegistryConfigYml: proxy.remoteUrl is ${JSON.stringify(proxy.remoteUrl)}; give the upstream's ` +
        `http(s) URL, e.g. "https://registry-1.docker.io".`,
    );
  }
  if (proxy && (proxy.username === undefined) !== (proxy.password === undefined)) {
    throw new Error(
      "renderRegistryConfigYml: proxy.username and proxy.password go together; give both or neither.",
    );
  }
  const paths = registryProcessPaths(options.runAs, options.storagePath);
  const lines = [
    "# Written by dockfleet (provision/render/registry.ts); changes here are overwritten.",
    "version: 0.1",
    "log:",
    "  level: info",
    "  fields:",
    "    service: registry",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${yamlString(paths.storagePath)}`,
    "  cache:",
    "    blobdescriptor: inmemory",
    "  delete:",
    `    enabled: ${options.deleteEnabled}`,
    "http:",
    // In a container the address is the container's own: `docker run --publish` binds the host's.
    `  addr: ${yamlString(options.runAs === "container" ? `:${options.port}` : registryAddress(options.listenAddress, options.port))}`,
    "  tls:",
    `    certificate: ${yamlString(`${paths.configDir}/tls/cert.pem`)}`,
    `    key: ${yamlString(`${paths.configDir}/tls/key.pem`)}`,
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
  ];
  if (options.metricsPort !== undefined) {
    lines.push(
      "  debug:",
      `    addr: ${yamlString(options.runAs === "container" ? `:${options.metricsPort}` : registryAddress(options.listenAddress, options.metricsPort))}`,
      "    prometheus:",
      "      enabled: true",
      "      path: /metrics",
    );
  }
  if (options.authentication) {
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: dockfleet-registry",
      `    path: ${yamlString(`${paths.configDir}/htpasswd`)}`,
    );
  }
  if (proxy) {
    lines.push("proxy:", `  remoteurl: ${yamlString(proxy.remoteUrl)}`);
    if (proxy.username !== undefined && proxy.password !== undefined) {
      lines.push(
        `  username: ${yamlString(proxy.username)}`,
        `  password: ${yamlString(proxy.password)}`,
      );
    }
  }
  lines.push(
    "health:",
    "  storagedriver:",
    "    enabled: true",
    "    interval: 10s",
    "    threshold: 3",
  );
  return lines.join("\n") + "\n";
}

/**
 * The drop-in for Debian's docker-registry.service: dockfleet's config instead of the package's
 * (which stays untouched for apt), and a restart when it fails. Boot start comes from `enable`.
 */
export function renderRegistryServiceDropIn(): string {
  return [
    "# Written by dockfleet (provision/render/registry.ts).",
    "[Service]",
    "ExecStart=",
    `ExecStart=/usr/bin/docker-registry serve ${REGISTRY_HOST_CONFIG_DIR}/config.yml`,
    "Restart=on-failure",
    "RestartSec=2",
    "",
  ].join("\n");
}

export interface RegistryServerEnvOptions {
  runAs: RegistryRunAs;
  port: number;
  /** The host's private address (see RegistryConfigYmlOptions.listenAddress). */
  listenAddress: string;
  storagePath: string;
  /** Image for runAs "container". */
  image: string;
  authentication: boolean;
  /** The metrics port runAs "container" publishes on listenAddress. @default none */
  metricsPort?: number;
}

/** Pure: ensure-registry.sh's parameters (no secrets: passwords travel as staged files). */
export function renderRegistryServerEnv(options: RegistryServerEnvOptions): Record<string, string> {
  const env: Record<string, string> = {
    RUN_AS: options.runAs,
    PORT: String(options.port),
    LISTEN_ADDRESS: options.listenAddress,
    STORAGE_PATH: options.storagePath,
    CONFIG_DIR: REGISTRY_HOST_CONFIG_DIR,
    STAGING_DIR: REGISTRY_STAGING_DIR,
    AUTHENTICATION: options.authentication ? "1" : "0",
  };
  if (options.runAs === "container") {
    env.IMAGE = options.image;
    env.CONTAINER_NAME = REGISTRY_CONTAINER_NAME;
    if (options.metricsPort !== undefined) env.METRICS_PORT = String(options.metricsPort);
  }
  return env;
}

/**
 * Pure: the htpasswd user a host logs in as, "<username>-<host>": each host has its own login, so
 * that a host that leaves the environment loses it (its line leaves the htpasswd file) while the
 * others keep theirs. It names a staged file too, hence the check.
 */
export function registryHostUsername(username: string, host: string): string {
  const user = `${username}-${host}`;
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(user)) {
    throw new Error(
      `registryHostUsername: ${JSON.stringify(user)} must be 1-255 characters of A-Z, a-z, 0-9, '.', '_', '-'.`,
    );
  }
  return user;
}

/** Pure: "host:port" for a registry address (IPv6 addresses in brackets). */
export function registryAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Pure: where a Docker engine reads the CA of the registry at "host:port". */
export function certsDirCaPath(address: string): string {
  if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(address)) {
    throw new Error(
      `certsDirCaPath: ${JSON.stringify(address)} is not a registry address "host:port", e.g. "10.0.0.5:5000".`,
    );
  }
  return `/etc/docker/certs.d/${address}/ca.crt`;
}
