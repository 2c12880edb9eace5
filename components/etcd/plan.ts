/**
 * Pure rendering and planning for etcd members: which hosts run one, their URLs and flags, the
 * /etc/default/etcd file both install sources read, the membership step a new member takes, and
 * the daemon.json options that make an old Docker engine use the cluster as its store.
 */

import { type ConfigIssue, configError } from "../../provision/config/errors";
import { shellQuote } from "../../provision/ssh/shell";

/**
 * Where configure-etcd.sh installs the client side's TLS files: the client CA, and the member's
 * certificate from it, which serves the client port and is etcdctl's client certificate on the host.
 */
export const ETCD_PKI_PATHS = Object.freeze({
  caPath: "/etc/etcd/pki/ca.pem",
  certPath: "/etc/etcd/pki/member.pem",
  keyPath: "/etc/etcd/pki/member-key.pem",
});

/** The peer side's: the peer CA and the member's peer certificate, for the peer port only. */
export const ETCD_PEER_PKI_PATHS = Object.freeze({
  peerCaPath: "/etc/etcd/pki/peer-ca.pem",
  peerCertPath: "/etc/etcd/pki/peer.pem",
  peerKeyPath: "/etc/etcd/pki/peer-key.pem",
});

/** The CAs' revocation lists, read by etcd on every handshake (a new list needs no restart). */
export const ETCD_CRL_PATHS = Object.freeze({
  clientCrlPath: "/etc/etcd/pki/client-crl.pem",
  peerCrlPath: "/etc/etcd/pki/peer-crl.pem",
});

/** Where the member's provider uploads files before running configure-etcd.sh. */
export const ETCD_STAGING_DIR = "/etc/etcd/dockfleet.staged";

/**
 * The key EtcdClusterHealth's delete writes when the whole cluster is being removed (destroy, or
 * etcd turned off): members then leave without membership changes, which a degraded cluster
 * would refuse, since nothing of the cluster is kept anyway.
 */
export const ETCD_TEARDOWN_KEY = "dockfleet/teardown";

/** Where Docker's client credentials for the cluster store go on every engine host. */
export const DOCKER_ETCD_CLIENT_PATHS = Object.freeze({
  caPath: "/etc/docker/etcd/ca.pem",
  certPath: "/etc/docker/etcd/client.pem",
  keyPath: "/etc/docker/etcd/client-key.pem",
});

/** A host that may run a member. */
export interface EtcdHostChoice {
  name: string;
}

/**
 * Pure: why `members` cannot be met by these hosts (in order), each with its path inside the etcd
 * config: a count over the number of hosts, a name that is not a host. The stack schema reports
 * them before any resource exists; selectEtcdMemberHosts throws them for an EtcdCluster used on
 * its own.
 */
export function etcdMemberIssues(
  hostNames: readonly string[],
  members: number | readonly string[],
): ConfigIssue[] {
  if (typeof members === "number") {
    return members > hostNames.length
      ? [
          {
            path: ["members"],
            message: `must be at most the number of hosts (${hostNames.length})`,
          },
        ]
      : [];
  }
  return members.flatMap((name, index) =>
    hostNames.includes(name)
      ? []
      : [
          {
            path: ["members", index],
            message: `must be a host of this environment (${hostNames.join(", ")})`,
          },
        ],
  );
}

/** Pure: what is allowed but unwise about a cluster of `size` members (the component logs it). */
export function etcdPlanWarnings(size: number): string[] {
  return size % 2 === 0
    ? [
        `dockfleet:etcd.members: ${size} members tolerate no more failures than ${size - 1} ` +
          `(quorum ${etcdQuorum(size)}) and add one more that can fail; use an odd number`,
      ]
    : [];
}

/**
 * Which hosts run a member: a count takes the first N hosts in order, a list names them (in the
 * list's order, which is also the order members are added in). Throws a ConfigError
 * (etcdMemberIssues) naming what is missing.
 */
export function selectEtcdMemberHosts<T extends EtcdHostChoice>(
  hosts: readonly T[],
  members: number | readonly string[],
): T[] {
  const issues = etcdMemberIssues(
    hosts.map((host) => host.name),
    members,
  );
  if (issues.length > 0) {
    throw configError("etcd config", "dockfleet:etcd", { members }, issues);
  }
  if (typeof members === "number") return hosts.slice(0, members);
  if (new Set(members).size !== members.length) {
    throw new Error(`etcd members lists a host twice (${members.join(", ")}): one member per host`);
  }
  return members.map((name) => hosts.find((host) => host.name === name) as T);
}

/** https://<address>:<port>, with IPv6 addresses in brackets. */
export function renderEtcdUrl(address: string, port: number): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return `https://${host}:${port}`;
}

/** A member as the cluster knows it: its name and the URL peers reach it at. */
export interface EtcdPeer {
  name: string;
  peerUrl: string;
}

/** "host-1=https://10.0.0.1:2380,host-2=..." (--initial-cluster), in the given order. */
export function renderInitialCluster(peers: readonly EtcdPeer[]): string {
  if (peers.length === 0)
    throw new Error("renderInitialCluster: a cluster needs at least one member");
  const names = new Set<string>();
  for (const peer of peers) {
    if (names.has(peer.name)) {
      throw new Error(`renderInitialCluster: two members are named ${JSON.stringify(peer.name)}`);
    }
    names.add(peer.name);
  }
  return peers.map((peer) => `${peer.name}=${peer.peerUrl}`).join(",");
}

/** Everything one member's etcd process is started with. */
export interface EtcdMemberSettings {
  name: string;
  /** Address the member listens for peers on and advertises (the host's private address). */
  privateAddress: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  /** renderInitialCluster's output: the members this one starts with (itself included). */
  initialCluster: string;
  /** "new" when the members start together; "existing" when joining after `member add`. */
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  /** Serve etcd's v2 API too: Docker's cluster store (libkv) speaks only v2. @default false */
  enableV2?: boolean;
  /** Other flags, without "--". */
  extraFlags?: Record<string, string>;
}

/** A flag value that passes safely through /etc/default/etcd and a command line. */
export const ETCD_FLAG_VALUE = /^[^\s"'\\$`]*$/;

/** Pure: etcd's flags for a member, in a fixed order ("--name=host-1", ...). */
export function renderEtcdFlags(settings: EtcdMemberSettings): string[] {
  const clientUrl = renderEtcdUrl(settings.privateAddress, settings.clientPort);
  const peerUrl = renderEtcdUrl(settings.privateAddress, settings.peerPort);
  const flags: [string, string][] = [
    ["name", settings.name],
    ["data-dir", settings.dataDir],
    // Clients also on loopback, so that etcdctl on the host itself works with 127.0.0.1.
    ["listen-client-urls", `${clientUrl},${renderEtcdUrl("127.0.0.1", settings.clientPort)}`],
    ["advertise-client-urls", clientUrl],
    ["listen-peer-urls", peerUrl],
    ["initial-advertise-peer-urls", peerUrl],
    ["initial-cluster", settings.initialCluster],
    ["initial-cluster-state", settings.initialClusterState],
    ["initial-cluster-token", settings.initialClusterToken],
    ["cert-file", ETCD_PKI_PATHS.certPath],
    ["key-file", ETCD_PKI_PATHS.keyPath],
    ["trusted-ca-file", ETCD_PKI_PATHS.caPath],
    ["client-cert-auth", "true"],
    ["client-crl-file", ETCD_CRL_PATHS.clientCrlPath],
    ["peer-cert-file", ETCD_PEER_PKI_PATHS.peerCertPath],
    ["peer-key-file", ETCD_PEER_PKI_PATHS.peerKeyPath],
    ["peer-trusted-ca-file", ETCD_PEER_PKI_PATHS.peerCaPath],
    ["peer-client-cert-auth", "true"],
    ["peer-crl-file", ETCD_CRL_PATHS.peerCrlPath],
    ["heartbeat-interval", String(settings.heartbeatIntervalMs)],
    ["election-timeout", String(settings.electionTimeoutMs)],
  ];
  if (settings.enableV2) flags.push(["enable-v2", "true"]);
  const managed = new Set(flags.map(([flag]) => flag));
  const extra = Object.entries(settings.extraFlags ?? {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [flag, value] of extra) {
    if (managed.has(flag)) {
      throw new Error(
        `renderEtcdFlags: extra flag --${flag} is set by dockfleet; use the matching etcd option instead`,
      );
    }
    flags.push([flag, value]);
  }
  for (const [flag, value] of flags) {
    if (!/^[a-z][a-z0-9-]*$/.test(flag) || !ETCD_FLAG_VALUE.test(value)) {
      throw new Error(
        `renderEtcdFlags: --${flag}=${JSON.stringify(value)} cannot be passed safely; flag names are ` +
          `a-z, 0-9 and '-', values have no whitespace, quotes, '\\', '$' or '\`'`,
      );
    }
  }
  return flags.map(([flag, value]) => `--${flag}=${value}`);
}

/** "--initial-cluster-token" → "ETCD_INITIAL_CLUSTER_TOKEN": etcd reads every flag from such a variable. */
export function etcdEnvName(flag: string): string {
  return `ETCD_${flag.replace(/^--/, "").replaceAll("-", "_").toUpperCase()}`;
}

/**
 * Pure: /etc/default/etcd for a member. Debian's etcd.service reads it (EnvironmentFile), and so
 * does the unit install-etcd.sh writes for the tarball, so both sources share one config file.
 */
export function renderEtcdEnv(settings: EtcdMemberSettings): string {
  const lines = renderEtcdFlags(settings).map((flag) => {
    const separator = flag.indexOf("=");
    return `${etcdEnvName(flag.slice(0, separator))}=${flag.slice(separator + 1)}`;
  });
  return [
    "# Managed by dockfleet (EtcdCluster): rewritten on every change, edits are lost.",
    ...lines,
    "",
  ].join("\n");
}

/** A systemd drop-in for etcd.service: restart after failures, and no start timeout. */
export function renderEtcdDropIn(): string {
  return [
    "# Managed by dockfleet. A member waits for its peers before it reports ready, so the start",
    "# has no timeout; it restarts after any failure, not only after a crash.",
    "[Service]",
    "TimeoutStartSec=infinity",
    "Restart=on-failure",
    "RestartSec=5s",
    "",
  ].join("\n");
}

/** One line of `etcdctl member list` (simple output). */
export interface EtcdMemberEntry {
  /** Hex member ID, as `member remove` takes it. */
  id: string;
  status: "started" | "unstarted";
  /** Empty while unstarted. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/**
 * Parses `etcdctl member list` (simple format: "id, status, name, peer URLs, client URLs,
 * learner"); several URLs in one field are separated by ",", which the field separator ", "
 * is not. Throws on a line it does not understand.
 */
export function parseEtcdMemberList(output: string): EtcdMemberEntry[] {
  return output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const fields = line.split(", ");
      const [id, status, name, peerUrls, clientUrls, isLearner] = fields;
      if (
        fields.length !== 6 ||
        !/^[0-9a-f]+$/.test(id) ||
        (status !== "started" && status !== "unstarted")
      ) {
        throw new Error(`cannot read this line of etcdctl member list: ${JSON.stringify(line)}`);
      }
      const urls = (field: string) => field.split(",").filter((url) => url.length > 0);
      return {
        id,
        status,
        name,
        peerUrls: urls(peerUrls),
        clientUrls: urls(clientUrls),
        isLearner: isLearner === "true",
      };
    });
}

/** What a member's create does, decided from what the cluster says (or that it says nothing). */
export type EtcdJoinPlan =
  | { action: "bootstrap"; initialClusterState: "new"; initialCluster: string }
  | { action: "add"; initialClusterState: "existing"; initialCluster: string }
  | { action: "start-listed"; initialClusterState: "existing"; initialCluster: string }
  | { action: "already-member"; initialClusterState: "existing"; initialCluster: string }
  | {
      action: "replace-stale";
      /** The listed member this host's lost data belonged to: removed before the new one is added. */
      stale: EtcdMemberEntry;
      initialClusterState: "existing";
      initialCluster: string;
    };

/**
 * Plans how a member joins.
 * - The cluster did not answer: when the member is one of the bootstrap members, they all start
 *   together with state "new"; otherwise there is nothing to join, which is an error.
 * - The cluster answered and lists the member's peer URL: it is one of the bootstrap members the
 *   others started without it (etcd lists those by name, without client URLs) or an earlier
 *   attempt added it: it starts empty with state "existing". Listed with client URLs, it has
 *   run before: with its data on the host it is a member already (the data is kept); without
 *   (the host was recreated), the listed member is stale, since etcd cannot take a member back
 *   with an empty log, so it is removed and the host joins as a new member.
 * - The cluster answered without it: `member add`, then start with state "existing" and the
 *   started members plus itself as the initial cluster.
 */
export function planEtcdJoin(args: {
  self: EtcdPeer;
  bootstrapPeers: readonly EtcdPeer[];
  /** The member list, or undefined when no endpoint answered. */
  members: readonly EtcdMemberEntry[] | undefined;
  /** Whether the host holds a member's data (`<dataDir>/member`). */
  hasLocalData: boolean;
}): EtcdJoinPlan {
  const { self, members } = args;
  if (members === undefined) {
    if (!args.bootstrapPeers.some((peer) => peer.name === self.name)) {
      throw new Error(
        `etcd member ${self.name} is new, but no existing member answered: it can only join a ` +
          `running cluster (member add needs quorum). Start the stopped members, then run up again.`,
      );
    }
    return {
      action: "bootstrap",
      initialClusterState: "new",
      initialCluster: renderInitialCluster(args.bootstrapPeers),
    };
  }
  const listed = members.find((member) => member.peerUrls.includes(self.peerUrl));
  const others = members
    .filter((member) => member !== listed)
    .map((member) => {
      if (member.name === "" || member.peerUrls.length === 0) {
        throw new Error(
          `etcd member ${member.id} (${member.peerUrls.join(",") || "no peer URL"}) was added but ` +
            `never started: start it or remove it (etcdctl member remove ${member.id}) before ` +
            `adding ${self.name}`,
        );
      }
      return { name: member.name, peerUrl: member.peerUrls[0] };
    });
  const initialCluster = renderInitialCluster([...others, self]);
  if (listed === undefined)
    return { action: "add", initialClusterState: "existing", initialCluster };
  if (listed.name !== "" && listed.name !== self.name) {
    throw new Error(
      `etcd peer URL ${self.peerUrl} belongs to member ${listed.name} (${listed.id}), not to ` +
        `${self.name}: remove that member first (etcdctl member remove ${listed.id})`,
    );
  }
  // Client URLs appear once the member has run and published itself; until then (a bootstrap
  // member that has not started yet, or one added by an interrupted attempt) it starts afresh.
  if (listed.clientUrls.length > 0) {
    return args.hasLocalData
      ? { action: "already-member", initialClusterState: "existing", initialCluster }
      : {
          action: "replace-stale",
          stale: listed,
          initialClusterState: "existing",
          initialCluster,
        };
  }
  return { action: "start-listed", initialClusterState: "existing", initialCluster };
}

/** Quorum of a cluster of `size` voting members. */
export function etcdQuorum(size: number): number {
  return Math.floor(size / 2) + 1;
}

/**
 * Throws unless removing one member keeps quorum: the members left that are healthy must be a
 * quorum of the cluster after the removal.
 */
export function checkRemovalKeepsQuorum(args: {
  member: string;
  clusterSize: number;
  /** Healthy members other than the one removed. */
  healthyOthers: number;
}): void {
  const remaining = args.clusterSize - 1;
  if (remaining < 1) return;
  if (args.healthyOthers < etcdQuorum(remaining)) {
    throw new Error(
      `removing etcd member ${args.member} would leave ${remaining} member(s) of which only ` +
        `${args.healthyOthers} are healthy, fewer than the ${etcdQuorum(remaining)} quorum needs: ` +
        `bring the stopped members back first, then run up again`,
    );
  }
}

/** The architectures etcd publishes Linux release tarballs for. */
export const ETCD_TARBALL_ARCHES = ["amd64", "arm64", "ppc64le", "s390x"] as const;
export type EtcdTarballArch = (typeof ETCD_TARBALL_ARCHES)[number];

/**
 * SHA-256 of the official release tarballs (etcd-v<version>-linux-<arch>.tar.gz), pinned per
 * version: a mirror serves the download, never the checksum that decides whether it is genuine.
 * Empty for now: GitHub is unreachable from where dockfleet is developed and no copy of the
 * published SHA256SUMS could be checked, so every release needs `etcd.sha256` from the stack.
 * Add a release only with sums taken from its published SHA256SUMS.
 */
export const ETCD_RELEASE_SHA256: Readonly<
  Record<string, Readonly<Partial<Record<EtcdTarballArch, string>>>>
> = Object.freeze({});

/** The tarball checksums a config trusts: the pinned ones for its version, then the stack's own. */
export function etcdTarballSha256(config: {
  version: string;
  sha256?: Partial<Record<EtcdTarballArch, string>>;
}): Partial<Record<EtcdTarballArch, string>> {
  return { ...ETCD_RELEASE_SHA256[config.version], ...config.sha256 };
}

/** install-etcd.sh's parameters: with a tarball, the SHA-256 it must have per architecture. */
export function renderEtcdInstallEnv(config: {
  source: "distro" | "tarball";
  version: string;
  downloadUrl: string;
  sha256?: Partial<Record<EtcdTarballArch, string>>;
}): Record<string, string> {
  if (config.source === "distro") return { ETCD_SOURCE: "distro" };
  const env: Record<string, string> = {
    ETCD_SOURCE: "tarball",
    ETCD_VERSION: config.version,
    ETCD_DOWNLOAD_URL: config.downloadUrl.replace(/\/+$/, ""),
  };
  for (const [arch, digest] of Object.entries(etcdTarballSha256(config))) {
    env[`ETCD_SHA256_${arch.toUpperCase()}`] = digest;
  }
  return env;
}

/** The release tarball install-etcd.sh downloads (the same layout the script builds). */
export function renderEtcdTarballUrl(downloadUrl: string, version: string, arch: string): string {
  return `${downloadUrl.replace(/\/+$/, "")}/v${version}/etcd-v${version}-linux-${arch}.tar.gz`;
}

/** The major version of a Docker engine version string ("20.10.24+dfsg1" → 20). */
export function dockerMajorVersion(version: string): number {
  const match = /^v?(\d+)\./.exec(version.trim());
  if (match === null) {
    throw new Error(
      `cannot read the Docker engine version ${JSON.stringify(version)}: expected "<major>.<minor>..."`,
    );
  }
  return Number(match[1]);
}

/**
 * daemon.json options that make a Docker engine older than 23 keep its overlay-network state in
 * the etcd cluster (the multi-host networking of the older guides): cluster-store,
 * cluster-advertise and the TLS files in cluster-store-opts. Docker 23 removed them, so newer
 * engines are refused.
 */
export function renderDockerClusterStoreOptions(args: {
  host: string;
  engineVersion: string;
  /** Client URLs of the members (https://...). */
  endpoints: readonly string[];
  /** What dockerd advertises to the other engines: "<address>:<port>" of its API. */
  advertise: string;
}): Record<string, string | Record<string, string>> {
  const major = dockerMajorVersion(args.engineVersion);
  if (major >= 23) {
    throw new Error(
      `${args.host}: etcd's dockerClusterStore needs a Docker engine older than 23, but ` +
        `${args.engineVersion} is installed there (Docker 23 removed cluster-store). Turn ` +
        `dockfleet:etcd.dockerClusterStore off and use a swarm for overlay networks, or install ` +
        `an older engine (dockfleet:engine.source "distro" on Debian 12 gives 20.10).`,
    );
  }
  if (args.endpoints.length === 0)
    throw new Error(`${args.host}: the etcd cluster has no endpoints`);
  const hosts = args.endpoints.map((endpoint) => endpoint.replace(/^https:\/\//, ""));
  return {
    "cluster-store": `etcd://${hosts.join(",")}`,
    "cluster-advertise": args.advertise,
    "cluster-store-opts": {
      "kv.cacertfile": DOCKER_ETCD_CLIENT_PATHS.caPath,
      "kv.certfile": DOCKER_ETCD_CLIENT_PATHS.certPath,
      "kv.keyfile": DOCKER_ETCD_CLIENT_PATHS.keyPath,
    },
  };
}

/** TLS files etcdctl presents (a member's own certificate works: it is also a client one). */
export interface EtcdctlTls {
  caPath: string;
  certPath: string;
  keyPath: string;
}

/**
 * The shell command for one etcdctl call against the given endpoints, v3 API, with short
 * timeouts so that a member that does not answer fails fast instead of hanging.
 */
export function renderEtcdctlCommand(args: {
  etcdctlPath: string;
  tls: EtcdctlTls;
  endpoints: readonly string[];
  command: readonly string[];
  dialTimeoutSeconds?: number;
  commandTimeoutSeconds?: number;
}): string {
  if (args.endpoints.length === 0) throw new Error("renderEtcdctlCommand: no endpoints given");
  const words = [
    args.etcdctlPath,
    `--endpoints=${args.endpoints.join(",")}`,
    `--cacert=${args.tls.caPath}`,
    `--cert=${args.tls.certPath}`,
    `--key=${args.tls.keyPath}`,
    `--dial-timeout=${args.dialTimeoutSeconds ?? 3}s`,
    `--command-timeout=${args.commandTimeoutSeconds ?? 5}s`,
    ...args.command,
  ];
  return `ETCDCTL_API=3 ${words.map(shellQuote).join(" ")}`;
}

/** Endpoints that `etcdctl endpoint health` reported healthy ("<url> is healthy: ..."). */
export function parseHealthyEndpoints(output: string): string[] {
  return output
    .split("\n")
    .map((line) => /^(\S+) is healthy:/.exec(line.trim())?.[1])
    .filter((endpoint): endpoint is string => endpoint !== undefined);
}
