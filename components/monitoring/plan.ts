// Pure rendering of the Monitoring component's files: prometheus.yml, the alert rules, the web
// config (basic auth) and ensure-prometheus.sh's parameters. No I/O: unit tests call these.

/** Where ensure-prometheus.sh installs the files on Prometheus's host (mounted read-only). */
export const PROMETHEUS_CONFIG_DIR = "/etc/dockfleet/prometheus";
/** Where the resource uploads them first (removed after each run: it holds a key and a password). */
export const PROMETHEUS_STAGING_DIR = "/etc/dockfleet/prometheus.staged";
export const PROMETHEUS_CONTAINER_NAME = "dockfleet-prometheus";
/**
 * In the web config, what ensure-prometheus.sh replaces with the bcrypt hash of the password:
 * the hash is made on the host (htpasswd -B), and kept while it still matches the password.
 */
export const PASSWORD_HASH_MARK = "@PASSWORD_HASH@";
/** The user Prometheus scrapes the node exporters as (basic auth, their own web config). */
export const NODE_EXPORTER_USERNAME = "prometheus";
/** The file in PROMETHEUS_CONFIG_DIR holding its password. */
export const NODE_EXPORTER_PASSWORD_FILE = "node-exporter-password";

/** One scrape target: the host it belongs to (label `host`) and "address:port". */
export interface ScrapeTarget {
  host: string;
  address: string;
}

export interface PrometheusYmlOptions {
  scrapeInterval: string;
  evaluationInterval: string;
  /** Every host's node exporter (job "node", basic auth as NODE_EXPORTER_USERNAME). */
  nodes: ScrapeTarget[];
  /** Every host's Docker engine metrics endpoint (job "docker"). */
  engines: ScrapeTarget[];
  /** etcd's members' client URLs (job "etcd", over TLS with etcd's client certificate). */
  etcd: ScrapeTarget[];
  /** The registry's debug listener (job "registry"), with the registry on. */
  registry?: ScrapeTarget;
}

/** The file names the etcd job's TLS settings point at, inside PROMETHEUS_CONFIG_DIR. */
export const ETCD_TLS_FILES = {
  ca: "etcd-ca.pem",
  cert: "etcd-client.pem",
  key: "etcd-client-key.pem",
} as const;

/** "host:port" (IPv6 addresses in brackets). */
export function targetAddress(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function quoted(value: string): string {
  return JSON.stringify(value);
}

function staticConfigs(targets: ScrapeTarget[]): string[] {
  const lines = ["    static_configs:"];
  for (const target of [...targets].sort((a, b) => a.host.localeCompare(b.host))) {
    lines.push(
      `      - targets: [${quoted(target.address)}]`,
      "        labels:",
      `          host: ${quoted(target.host)}`,
    );
  }
  return lines;
}

/**
 * Pure: prometheus.yml. Every job lists its targets one by one with a `host` label, so that an
 * alert names the host; jobs without targets are left out.
 */
export function renderPrometheusYml(options: PrometheusYmlOptions): string {
  const lines = [
    "# Written by dockfleet (components/monitoring/plan.ts); changes here are overwritten.",
    "global:",
    `  scrape_interval: ${options.scrapeInterval}`,
    `  evaluation_interval: ${options.evaluationInterval}`,
    "rule_files:",
    `  - ${quoted(`${PROMETHEUS_CONFIG_DIR}/rules.yml`)}`,
    "scrape_configs:",
  ];
  const job = (name: string, targets: ScrapeTarget[], extra: string[] = []) => {
    if (targets.length === 0) return;
    lines.push(`  - job_name: ${name}`, ...extra, ...staticConfigs(targets));
  };
  job("node", options.nodes, [
    "    basic_auth:",
    `      username: ${quoted(NODE_EXPORTER_USERNAME)}`,
    `      password_file: ${quoted(`${PROMETHEUS_CONFIG_DIR}/${NODE_EXPORTER_PASSWORD_FILE}`)}`,
  ]);
  job("docker", options.engines);
  job("etcd", options.etcd, [
    "    scheme: https",
    "    tls_config:",
    `      ca_file: ${quoted(`${PROMETHEUS_CONFIG_DIR}/${ETCD_TLS_FILES.ca}`)}`,
    `      cert_file: ${quoted(`${PROMETHEUS_CONFIG_DIR}/${ETCD_TLS_FILES.cert}`)}`,
    `      key_file: ${quoted(`${PROMETHEUS_CONFIG_DIR}/${ETCD_TLS_FILES.key}`)}`,
  ]);
  job("registry", options.registry ? [options.registry] : []);
  return lines.join("\n") + "\n";
}

export interface AlertRulesOptions {
  /** How long a node exporter must be down before HostDown fires. */
  hostDownFor: string;
  /** DiskAlmostFull's threshold, in percent. */
  diskFullPercent: number;
}

/**
 * Pure: the alert rules. HostDown (the node exporter does not answer), EngineMetricsDown,
 * EtcdMemberDown (a member does not answer or has no leader), SwarmNodeNotReady (from the
 * managers' `swarm_manager_nodes` gauge in Docker's metrics), DiskAlmostFull.
 */
export function renderAlertRules(options: AlertRulesOptions): string {
  const rule = (name: string, expr: string, forTime: string, summary: string) => [
    `      - alert: ${name}`,
    `        expr: ${quoted(expr)}`,
    `        for: ${forTime}`,
    "        labels:",
    "          severity: critical",
    "        annotations:",
    `          summary: ${quoted(summary)}`,
  ];
  return (
    [
      "# Written by dockfleet (components/monitoring/plan.ts); changes here are overwritten.",
      "groups:",
      "  - name: dockfleet",
      "    rules:",
      ...rule(
        "HostDown",
        'up{job="node"} == 0',
        options.hostDownFor,
        "{{ $labels.host }} is down: its node exporter does not answer",
      ),
      ...rule(
        "EngineMetricsDown",
        'up{job="docker"} == 0',
        options.hostDownFor,
        "{{ $labels.host }}: Docker's metrics endpoint does not answer",
      ),
      ...rule(
        "EtcdMemberDown",
        'up{job="etcd"} == 0 or etcd_server_has_leader{job="etcd"} == 0',
        "1m",
        "{{ $labels.host }}: etcd member down or without a leader",
      ),
      ...rule(
        "SwarmNodeNotReady",
        'max by (state) (swarm_manager_nodes{job="docker", state!="ready"}) > 0',
        "1m",
        "{{ $value }} swarm node(s) in state {{ $labels.state }}",
      ),
      ...rule(
        "DiskAlmostFull",
        `100 * (1 - node_filesystem_avail_bytes{job="node", fstype!~"tmpfs|overlay|squashfs"} ` +
          `/ node_filesystem_size_bytes{job="node", fstype!~"tmpfs|overlay|squashfs"}) ` +
          `> ${options.diskFullPercent}`,
        "5m",
        `{{ $labels.host }}: {{ $labels.mountpoint }} is more than ${options.diskFullPercent}% full`,
      ),
    ].join("\n") + "\n"
  );
}

/**
 * Pure: Prometheus's web config (--web.config.file): basic auth for one user. `passwordHash` is
 * a bcrypt hash, or PASSWORD_HASH_MARK for ensure-prometheus.sh to fill in on the host.
 */
export function renderPrometheusWebConfig(username: string, passwordHash: string): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(username)) {
    throw new Error(
      `renderPrometheusWebConfig: username ${JSON.stringify(username)} must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'.`,
    );
  }
  if (
    passwordHash !== PASSWORD_HASH_MARK &&
    !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(passwordHash)
  ) {
    throw new Error("renderPrometheusWebConfig: passwordHash is not a bcrypt hash ($2y$...).");
  }
  return [
    "# Written by dockfleet (components/monitoring/plan.ts); changes here are overwritten.",
    "basic_auth_users:",
    `  ${username}: ${passwordHash}`,
    "",
  ].join("\n");
}

export interface PrometheusServerEnvOptions {
  /** The image, by digest, as the host pulls it from the registry. */
  image: string;
  /** The host's private address: the only one Prometheus listens on. */
  listenAddress: string;
  port: number;
  retention: string;
  username: string;
}

/** Pure: ensure-prometheus.sh's parameters. */
export function renderPrometheusServerEnv(
  options: PrometheusServerEnvOptions,
): Record<string, string> {
  return {
    IMAGE: options.image,
    LISTEN: targetAddress(options.listenAddress, options.port),
    RETENTION: options.retention,
    WEB_USERNAME: options.username,
    CONFIG_DIR: PROMETHEUS_CONFIG_DIR,
    STAGING_DIR: PROMETHEUS_STAGING_DIR,
    CONTAINER_NAME: PROMETHEUS_CONTAINER_NAME,
  };
}
