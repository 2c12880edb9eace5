// Pure rendering of Docker's configuration on a host: daemon.json, the systemd drop-in, and the
// files staged for apply-docker-config.sh. No I/O: unit tests call these directly.

/** Any value JSON can hold: what `extra` daemon options may be. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Where dockerd reads its TLS material on the host (what apply-docker-config.sh installs). */
export interface DaemonTlsPaths {
  /** CA that client certificates must chain to. */
  caPath: string;
  /** The server certificate. */
  certPath: string;
  /** The server's private key (mode 0600 on the host). */
  keyPath: string;
}

/** The paths apply-docker-config.sh installs the staged certificates to. */
export const DOCKER_TLS_PATHS: Readonly<DaemonTlsPaths> = Object.freeze({
  caPath: "/etc/docker/tls/ca.pem",
  certPath: "/etc/docker/tls/cert.pem",
  keyPath: "/etc/docker/tls/key.pem",
});

export const DOCKER_UNIX_SOCKET_HOST = "unix:///var/run/docker.sock";
export const DEFAULT_DOCKER_TLS_PORT = 2376;

export interface DaemonJsonOptions {
  /**
   * Pull-through mirrors for Docker Hub ("https://mirror.example.com", "http://10.0.0.2:5000"),
   * written as given, in the given order. Each needs an http:// or https:// scheme.
   * @default [] (the key is left out)
   */
  registryMirrors?: string[];
  /**
   * Registries reached over plain HTTP or with untrusted certificates, as "host:port" or a CIDR,
   * without a scheme. A mirror does not need to be listed here.
   * @default [] (the key is left out)
   */
  insecureRegistries?: string[];
  /** Container log driver. @default "json-file" */
  logDriver?: string;
  /**
   * Log driver options, values as strings. When left out and the driver is json-file, logs rotate
   * at 10 MB with 3 files kept; give `{}` to turn rotation off.
   * @default { "max-size": "10m", "max-file": "3" } for json-file, none for other drivers
   */
  logOpts?: Record<string, string>;
  /** Storage driver ("overlay2"). @default left out: dockerd chooses */
  storageDriver?: string;
  /** Engine labels, written as sorted "key=value" strings. @default {} (the key is left out) */
  labels?: Record<string, string>;
  /**
   * Turns on the TLS-verified remote API: dockerd listens on tcp://0.0.0.0:<tlsPort> as well as
   * the unix socket, and only clients with a certificate from the CA get in. Without it, dockerd
   * listens on the unix socket only.
   * @default no TCP listener
   */
  tls?: DaemonTlsPaths;
  /** daemon.json live-restore: containers keep running while dockerd restarts. @default false */
  liveRestore?: boolean;
  /** Port of the TLS API, used only with `tls`. @default 2376 */
  tlsPort?: number;
  /**
   * "address:port" of dockerd's Prometheus metrics endpoint (daemon.json `metrics-addr`; plain
   * HTTP, no auth: give a private address). `extra` may set `metrics-addr` only without it.
   * @default none (the key is left out, or `extra`'s)
   */
  metricsAddress?: string;
  /**
   * Any other daemon.json option, passed through (object keys sorted for stable output). Naming
   * a key that the options above manage is an error.
   * @default {}
   */
  extra?: Record<string, JsonValue>;
}

/** daemon.json keys that DaemonJsonOptions sets; `extra` may not name them. */
export const MANAGED_DAEMON_KEYS: readonly string[] = Object.freeze([
  "hosts",
  "tls",
  "tlsverify",
  "tlscacert",
  "tlscert",
  "tlskey",
  "registry-mirrors",
  "insecure-registries",
  "log-driver",
  "log-opts",
  "storage-driver",
  "labels",
  "live-restore",
]);

const OPTION_FOR_KEY: Record<string, string> = {
  hosts: "tls/tlsPort",
  tls: "tls",
  tlsverify: "tls",
  tlscacert: "tls.caPath",
  tlscert: "tls.certPath",
  tlskey: "tls.keyPath",
  "registry-mirrors": "registryMirrors",
  "insecure-registries": "insecureRegistries",
  "log-driver": "logDriver",
  "log-opts": "logOpts",
  "storage-driver": "storageDriver",
  labels: "labels",
  "live-restore": "liveRestore",
};

/**
 * Renders /etc/docker/daemon.json. Pure and byte-stable: the same options always give the same
 * text (fixed key order, 2-space indent, trailing newline), so an unchanged config never
 * restarts Docker.
 */
export function renderDaemonJson(options: DaemonJsonOptions = {}): string {
  const extra = options.extra ?? {};
  for (const key of Object.keys(extra)) {
    if (MANAGED_DAEMON_KEYS.includes(key)) {
      throw new Error(
        `renderDaemonJson: extra.${JSON.stringify(key)} clashes with a key dockfleet manages; ` +
          `set it through the "${OPTION_FOR_KEY[key]}" option instead.`,
      );
    }
  }

  const config: Record<string, JsonValue> = {};
  const tlsPort = options.tlsPort ?? DEFAULT_DOCKER_TLS_PORT;
  if (!Number.isInteger(tlsPort) || tlsPort < 1 || tlsPort > 65535) {
    throw new Error(
      `renderDaemonJson: tlsPort is ${JSON.stringify(tlsPort)}; give a TCP port from 1 to 65535.`,
    );
  }
  if (options.tls) {
    const tls = options.tls;
    for (const field of ["caPath", "certPath", "keyPath"] as const) {
      if (typeof tls[field] !== "string" || !tls[field].startsWith("/")) {
        throw new Error(
          `renderDaemonJson: tls.${field} is ${JSON.stringify(tls[field])}; give an absolute path on the host ` +
            `(DOCKER_TLS_PATHS has the ones apply-docker-config.sh installs).`,
        );
      }
    }
    config.hosts = [DOCKER_UNIX_SOCKET_HOST, `tcp://0.0.0.0:${tlsPort}`];
    config.tls = true;
    config.tlsverify = true;
    config.tlscacert = tls.caPath;
    config.tlscert = tls.certPath;
    config.tlskey = tls.keyPath;
  } else {
    config.hosts = [DOCKER_UNIX_SOCKET_HOST];
  }

  const registryMirrors = options.registryMirrors ?? [];
  for (const mirror of registryMirrors) {
    if (!/^https?:\/\/[^/\s]+/.test(mirror)) {
      throw new Error(
        `renderDaemonJson: registryMirrors holds ${JSON.stringify(mirror)}; a mirror is a URL with ` +
          `an http:// or https:// scheme, such as "https://mirror.example.com".`,
      );
    }
  }
  if (registryMirrors.length > 0) config["registry-mirrors"] = [...registryMirrors];

  const insecureRegistries = options.insecureRegistries ?? [];
  for (const registry of insecureRegistries) {
    if (registry.trim() === "" || registry.includes("://")) {
      throw new Error(
        `renderDaemonJson: insecureRegistries holds ${JSON.stringify(registry)}; give "host:port" or a ` +
          `CIDR without a scheme, such as "10.0.0.2:5000".`,
      );
    }
  }
  if (insecureRegistries.length > 0) config["insecure-registries"] = [...insecureRegistries];

  const logDriver = options.logDriver ?? "json-file";
  config["log-driver"] = logDriver;
  const logOpts =
    options.logOpts ?? (logDriver === "json-file" ? { "max-size": "10m", "max-file": "3" } : {});
  if (Object.keys(logOpts).length > 0) config["log-opts"] = sortKeys(logOpts);

  if (options.storageDriver !== undefined) config["storage-driver"] = options.storageDriver;

  const labels = Object.entries(options.labels ?? {});
  for (const [key] of labels) {
    if (key === "" || key.includes("=")) {
      throw new Error(
        `renderDaemonJson: labels has the key ${JSON.stringify(key)}; label keys are non-empty and hold no "=".`,
      );
    }
  }
  if (labels.length > 0) {
    config.labels = labels
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${key}=${value}`);
  }
  if (options.liveRestore === true) config["live-restore"] = true;
  if (options.metricsAddress !== undefined) {
    if (!/^(\[[0-9A-Fa-f:]+\]|[^\s:[\]]+):\d{1,5}$/.test(options.metricsAddress)) {
      throw new Error(
        `renderDaemonJson: metricsAddress is ${JSON.stringify(options.metricsAddress)}; give "address:port", ` +
          `such as "10.0.0.5:9323".`,
      );
    }
    if ("metrics-addr" in extra) {
      throw new Error(
        `renderDaemonJson: extra["metrics-addr"] clashes with metricsAddress ` +
          `${JSON.stringify(options.metricsAddress)} (dockfleet:monitoring sets it); drop one.`,
      );
    }
    config["metrics-addr"] = options.metricsAddress;
  }

  for (const key of Object.keys(extra).sort()) {
    config[key] = sortKeysDeep(extra[key]);
  }

  return JSON.stringify(config, null, 2) + "\n";
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function sortKeysDeep(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeysDeep(value[key])]),
    );
  }
  return value;
}

/** Where apply-docker-config.sh installs the drop-in rendered by renderDockerDropIn. */
export const DOCKER_DROP_IN_PATH = "/etc/systemd/system/docker.service.d/dockfleet.conf";

/** The containerd socket that both Debian's docker.io and docker-ce units hand to dockerd. */
export const DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock";

export interface DockerDropInOptions {
  /**
   * containerd socket passed as --containerd. Debian's docker.io and docker-ce (apt and rpm)
   * units all start dockerd with the system containerd's socket; without the flag dockerd would
   * start a second containerd of its own. Give null to leave the flag out.
   * @default "/run/containerd/containerd.sock"
   */
  containerdSocket?: string | null;
  /** An EnvironmentFile for dockerd (the proxy variables, DOCKERD_ENVIRONMENT_PATH). */
  environmentFile?: string;
}

/** Where apply-docker-config.sh installs dockerd's environment file (0600: a proxy password). */
export const DOCKERD_ENVIRONMENT_PATH = "/etc/docker/dockfleet-proxy.env";

/**
 * Renders a systemd drop-in for docker.service that replaces ExecStart with a dockerd taking no
 * -H flag, so that "hosts" in daemon.json is the only listener list. The packaged units start
 * `dockerd -H fd:// ...`, and dockerd refuses to start when a flag and daemon.json both set hosts.
 *
 * Debian's docker.io has dockerd at /usr/sbin/dockerd (and adds $DOCKER_OPTS from
 * /etc/default/docker); docker-ce has /usr/bin/dockerd. Flags from /etc/default/docker or
 * /etc/sysconfig/docker are deliberately not passed on: set such options in daemon.json.
 */
export function renderDockerDropIn(dockerdPath: string, options: DockerDropInOptions = {}): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(dockerdPath)) {
    throw new Error(
      `renderDockerDropIn: dockerdPath is ${JSON.stringify(dockerdPath)}; give the absolute path of ` +
        `dockerd on the host (/usr/sbin/dockerd for Debian's docker.io, /usr/bin/dockerd for docker-ce; ` +
        `install-docker.sh prints it as dockerd=<path>).`,
    );
  }
  const containerdSocket =
    options.containerdSocket === undefined ? DEFAULT_CONTAINERD_SOCKET : options.containerdSocket;
  if (containerdSocket !== null && !/^\/[A-Za-z0-9._/-]+$/.test(containerdSocket)) {
    throw new Error(
      `renderDockerDropIn: containerdSocket is ${JSON.stringify(containerdSocket)}; give an absolute ` +
        `socket path such as "${DEFAULT_CONTAINERD_SOCKET}", or null to leave --containerd out.`,
    );
  }
  const command =
    containerdSocket === null ? dockerdPath : `${dockerdPath} --containerd=${containerdSocket}`;
  return [
    '# Managed by dockfleet. daemon.json holds every dockerd setting, "hosts" included, so',
    "# ExecStart is cleared and dockerd runs without -H (a flag and the file may not both set it).",
    "[Service]",
    // A file, not Environment= lines: `systemctl show` would show those to every user.
    ...(options.environmentFile === undefined
      ? []
      : [`EnvironmentFile=${options.environmentFile}`]),
    "ExecStart=",
    `ExecStart=${command}`,
    "",
  ].join("\n");
}

/** The folder the caller uploads to before running apply-docker-config.sh. */
export const DOCKER_CONFIG_STAGING_DIR = "/etc/docker/dockfleet.staged";

/** What apply-docker-config.sh installs, as rendered text. */
export interface DockerConfigFiles {
  /** renderDaemonJson's output. */
  daemonJson: string;
  /** renderDockerDropIn's output. */
  dropIn: string;
  /** TLS material, all three or none: the CA, and the host's server certificate and key. */
  tls?: { caPem: string; serverCertPem: string; serverKeyPem: string };
  /** dockerd's environment file (renderEnvironmentFile), with a proxy only. */
  dockerdEnvironment?: string;
}

/** One file to upload over SFTP. */
export interface StagedUpload {
  path: string;
  content: string;
  /** File mode; the key is 0600 from the moment it lands. */
  mode: number;
  /** True for files holding a private key: keep them secret in state and out of logs. */
  secret: boolean;
}

/**
 * Plans the uploads into the staging folder, under the names apply-docker-config.sh reads
 * (INSTALLED_PATH_OF_STAGED_FILE says where each one ends up). Pure.
 */
export function planDockerConfigUploads(files: DockerConfigFiles): StagedUpload[] {
  const at = (name: string): string => `${DOCKER_CONFIG_STAGING_DIR}/${name}`;
  const uploads: StagedUpload[] = [
    { path: at("daemon.json"), content: files.daemonJson, mode: 0o644, secret: false },
    { path: at("dockfleet.conf"), content: files.dropIn, mode: 0o644, secret: false },
  ];
  if (files.tls) {
    uploads.push(
      { path: at("ca.pem"), content: files.tls.caPem, mode: 0o644, secret: false },
      { path: at("server-cert.pem"), content: files.tls.serverCertPem, mode: 0o644, secret: false },
      { path: at("server-key.pem"), content: files.tls.serverKeyPem, mode: 0o600, secret: true },
    );
  }
  if (files.dockerdEnvironment !== undefined) {
    const content = files.dockerdEnvironment;
    uploads.push({ path: at("dockerd.env"), content, mode: 0o600, secret: true });
  }
  return uploads;
}

export const DOCKER_DAEMON_JSON_PATH = "/etc/docker/daemon.json";

/** Where apply-docker-config.sh puts each staged file. */
export const INSTALLED_PATH_OF_STAGED_FILE: Readonly<Record<string, string>> = Object.freeze({
  "daemon.json": DOCKER_DAEMON_JSON_PATH,
  "dockfleet.conf": DOCKER_DROP_IN_PATH,
  "ca.pem": "/etc/docker/tls/ca.pem",
  "server-cert.pem": "/etc/docker/tls/cert.pem",
  "server-key.pem": "/etc/docker/tls/key.pem",
  "dockerd.env": DOCKERD_ENVIRONMENT_PATH,
});

/**
 * daemon.json keys dockerd applies on SIGHUP without a restart (moby's daemon/reload.go, the same
 * list in 20.10 and later; "Configuration reload behavior" in dockerd's reference). A change of
 * any other key needs a restart.
 */
export const RELOADABLE_DAEMON_KEYS: readonly string[] = Object.freeze([
  "debug",
  "labels",
  "live-restore",
  "max-concurrent-downloads",
  "max-concurrent-uploads",
  "max-download-attempts",
  "shutdown-timeout",
  "insecure-registries",
  "registry-mirrors",
  "allow-nondistributable-artifacts",
  "features",
  "runtimes",
  "default-runtime",
  "network-diagnostic-port",
]);

/**
 * How a new daemon.json reaches a running dockerd: "reload" (SIGHUP, no container stops) when
 * every key that differs from the installed file is reloadable and still set; otherwise "restart". A file that
 * is missing or not JSON object text needs a restart. Pure.
 */
export function planDaemonJsonChange(
  installed: string | undefined,
  wanted: string,
): "unchanged" | "reload" | "restart" {
  if (installed === wanted) return "unchanged";
  const parse = (text: string | undefined): Record<string, unknown> | undefined => {
    try {
      const value: unknown = JSON.parse(text ?? "");
      return value !== null && typeof value === "object" && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  const before = parse(installed);
  const after = parse(wanted);
  if (before === undefined || after === undefined) return "restart";
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
  if (changed.length === 0) return "reload"; // same options, other bytes: rewriting is enough
  // A reload only applies keys the file sets: one taken out keeps its old value until a restart.
  const reloadable = (key: string) => RELOADABLE_DAEMON_KEYS.includes(key) && key in after;
  return changed.every(reloadable) ? "reload" : "restart";
}

/** A daemon.json key the host's own file and dockfleet's set to different values. */
export interface DaemonJsonConflict {
  /** The key, with the path into an object for a nested one ("log-opts.max-size"). */
  key: string;
  /** The host file's value, as JSON. */
  hostValue: string;
  /** dockfleet's value, as JSON, or "(unset)" for a key it leaves out on purpose. */
  dockfleetValue: string;
}

/** Refuses to adopt a host's daemon.json that disagrees with dockfleet's: lists every conflict. */
export class DaemonJsonConflictError extends Error {
  constructor(
    readonly where: string,
    readonly conflicts: readonly DaemonJsonConflict[],
  ) {
    super(
      `${where} sets ${conflicts.length === 1 ? "a key" : "keys"} that dockfleet manages to another value:\n` +
        conflicts
          .map((c) => `  ${c.key}: the host has ${c.hostValue}, dockfleet has ${c.dockfleetValue}`)
          .join("\n") +
        `\nMake the stack's engine config give the host's value (engine.registryMirrors, ` +
        `engine.logMaxSize, engine.daemonOptions, ...), or take the key out of the host's file; ` +
        `dockfleet keeps every other key of it. Nothing on the host was changed.`,
    );
  }
}

const isJsonObject = (value: unknown): value is Record<string, JsonValue> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Merges a host's own daemon.json (there before dockfleet: data-root, default-address-pools, ...)
 * into dockfleet's rendered one, so that adopting a host that already runs Docker keeps its
 * settings. dockfleet's keys come first, in their order, then the host's other keys, sorted.
 * A key both files set must agree (objects such as log-opts are merged key by key, so only a
 * nested key can clash); a key dockfleet manages (MANAGED_DAEMON_KEYS) but leaves out stays out,
 * since leaving it out is dockfleet's choice (live-restore off for a swarm, no mirrors). Throws a
 * DaemonJsonConflictError listing every clash; `where` names the host's file in it. Pure.
 */
export function mergeAdoptedDaemonJson(rendered: string, adopted: string, where: string): string {
  if (adopted.trim() === "") return rendered;
  let hostConfig: unknown;
  try {
    hostConfig = JSON.parse(adopted);
  } catch (error) {
    throw new Error(
      `${where} is not valid JSON (${(error as Error).message}); dockerd could not be reading it ` +
        `either: fix or remove it. Nothing on the host was changed.`,
    );
  }
  if (!isJsonObject(hostConfig)) {
    throw new Error(
      `${where} is not a JSON object; fix or remove it. Nothing on the host was changed.`,
    );
  }
  const conflicts: DaemonJsonConflict[] = [];
  const merge = (
    ours: Record<string, JsonValue>,
    theirs: Record<string, JsonValue>,
    prefix: string,
  ): Record<string, JsonValue> => {
    const merged = { ...ours };
    for (const key of Object.keys(theirs).sort()) {
      const path = prefix + key;
      const mine = ours[key];
      const their = sortKeysDeep(theirs[key]);
      if (mine === undefined) {
        if (prefix === "" && MANAGED_DAEMON_KEYS.includes(key)) {
          conflicts.push({
            key: path,
            hostValue: JSON.stringify(their),
            dockfleetValue: "(unset)",
          });
        } else {
          merged[key] = their;
        }
      } else if (isJsonObject(mine) && isJsonObject(their)) {
        merged[key] = sortKeysDeep(merge(mine, their, `${path}.`));
      } else if (JSON.stringify(sortKeysDeep(mine)) !== JSON.stringify(their)) {
        conflicts.push({
          key: path,
          hostValue: JSON.stringify(their),
          dockfleetValue: JSON.stringify(mine),
        });
      }
    }
    return merged;
  };
  const merged = merge(JSON.parse(rendered) as Record<string, JsonValue>, hostConfig, "");
  if (conflicts.length > 0) throw new DaemonJsonConflictError(where, conflicts);
  return JSON.stringify(merged, null, 2) + "\n";
}
