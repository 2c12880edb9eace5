import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";
import { ETCD_FLAG_VALUE, ETCD_TARBALL_ARCHES, etcdTarballSha256 } from "./plan";
import { hostDataPath, hostName, httpUrl } from "../../provision/config/fields";

/**
 * The `dockfleet:etcd` stack config: every default and check of an EtcdCluster in one schema, so
 * that a bad value stops the preview before anything exists. Wired into the stack schema by
 * components/stack/config.ts under the key `etcd`.
 */

/** Where the official release tarballs live (laid out as /v<version>/etcd-v<version>-linux-<arch>.tar.gz). */
export const ETCD_OFFICIAL_DOWNLOAD_URL = "https://github.com/etcd-io/etcd/releases/download";

/** The release the tarball source installs when no version is given. */
export const DEFAULT_ETCD_TARBALL_VERSION = "3.5.17";

/** etcd flags dockfleet sets itself: `extraFlags` may not name them. */
export const MANAGED_ETCD_FLAGS: readonly string[] = Object.freeze([
  "name",
  "data-dir",
  "listen-client-urls",
  "advertise-client-urls",
  "listen-peer-urls",
  "initial-advertise-peer-urls",
  "initial-cluster",
  "initial-cluster-state",
  "initial-cluster-token",
  "cert-file",
  "key-file",
  "trusted-ca-file",
  "client-cert-auth",
  "client-crl-file",
  "peer-cert-file",
  "peer-key-file",
  "peer-trusted-ca-file",
  "peer-client-cert-auth",
  "peer-crl-file",
  "heartbeat-interval",
  "election-timeout",
  "enable-v2",
]);

export const EtcdConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Run an etcd cluster on the environment's hosts."),
    members: z
      .union([z.int().min(1).max(9), z.array(hostName).min(1).max(9)])
      .default(3)
      .describe(
        "Which hosts run a member: a count takes the first N hosts, a list names them. " +
          "Odd counts keep quorum best (3 tolerate one failure, 5 two).",
      ),
    source: z
      .enum(["distro", "tarball"])
      .default("distro")
      .describe(
        "Where etcd comes from: \"distro\" installs the distribution's packages (Debian's " +
          'etcd-server and etcd-client, 3.4); "tarball" downloads the official release ' +
          "from `downloadUrl`.",
      ),
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, { message: 'must be a release number like "3.5.17"' })
      .default(DEFAULT_ETCD_TARBALL_VERSION)
      .describe('With source "tarball": the release to install, without the "v".'),
    downloadUrl: httpUrl("https://mirrors.example.com/etcd")
      .default(ETCD_OFFICIAL_DOWNLOAD_URL)
      .describe(
        'With source "tarball": base URL laid out like GitHub\'s release downloads (a ' +
          "mirror of them).",
      ),
    sha256: z
      .partialRecord(
        z.enum(ETCD_TARBALL_ARCHES),
        z.string().regex(/^[0-9a-f]{64}$/, {
          message: "must be a SHA-256 digest: 64 lower-case hex digits",
        }),
      )
      .optional()
      .describe(
        'With source "tarball": the SHA-256 of etcd-v<version>-linux-<arch>.tar.gz per ' +
          'architecture ({"amd64": "<64 hex digits>"}), from the release\'s SHA256SUMS; ' +
          "overrides the sums dockfleet pins. A download is never installed unverified.",
      ),
    clusterToken: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, {
        message: "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
      })
      .optional()
      .describe('The cluster token (--initial-cluster-token); unset: "dockfleet-<cluster name>".'),
    clientPort: z
      .int()
      .min(1)
      .max(65535)
      .default(2379)
      .describe("Client port (TLS, client certificates required)."),
    peerPort: z.int().min(1).max(65535).default(2380).describe("Peer port (TLS between members)."),
    dataDir: hostDataPath("/var/lib/etcd/dockfleet")
      .default("/var/lib/etcd/dockfleet")
      .describe(
        "The member's data directory on the host: absolute, outside the system's directories " +
          '(/etc, /usr, ...) and /var/lib/docker, without "..".',
      ),
    heartbeatIntervalMs: z
      .int()
      .min(10)
      .max(10_000)
      .default(100)
      .describe("Raft heartbeat, ms (--heartbeat-interval)."),
    electionTimeoutMs: z
      .int()
      .min(50)
      .max(50_000)
      .default(1000)
      .describe("Raft election timeout, ms (--election-timeout); at least 5 heartbeats."),
    extraFlags: z
      .record(
        z.string().regex(/^[a-z][a-z0-9-]*$/),
        z.string().regex(ETCD_FLAG_VALUE, {
          message:
            "must be a value without whitespace, quotes, '\\', '$' or '`' (it is written into " +
            "/etc/default/etcd)",
        }),
      )
      .default({})
      .describe(
        'Any other etcd flag, without "--" ({"auto-compaction-retention": "1"}); ' +
          "managed ones are refused.",
      ),
    healthTimeoutSeconds: z
      .int()
      .min(10)
      .max(3600)
      .default(180)
      .describe(
        "How long to wait, after create and each member change, for every member to be " +
          "healthy.",
      ),
    dockerClusterStore: z
      .boolean()
      .default(false)
      .describe(
        "Let Docker engines older than 23 use this cluster as their cluster store " +
          "(cluster-store, cluster-advertise and cluster-store-opts in daemon.json: " +
          "multi-host overlay networks without swarm). Refused for Docker 23 and later, " +
          "which removed these options.",
      ),
    removeOnDestroy: z
      .boolean()
      .default(false)
      .describe(
        "On destroy, also remove the etcd packages (or the tarball's binaries). Data is " +
          "always wiped.",
      ),
  })
  .superRefine((config, ctx) => {
    if (config.electionTimeoutMs < 5 * config.heartbeatIntervalMs) {
      ctx.addIssue({
        code: "custom",
        path: ["electionTimeoutMs"],
        message: `must be at least 5 × heartbeatIntervalMs (${5 * config.heartbeatIntervalMs}), as etcd requires`,
      });
    }
    if (config.source === "tarball" && Object.keys(etcdTarballSha256(config)).length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["sha256"],
        message:
          `is required for etcd.version "${config.version}" with source "tarball": dockfleet ` +
          "pins no published checksum for this release and never installs an unverified " +
          `download; give the SHA-256 of etcd-v${config.version}-linux-<arch>.tar.gz from the ` +
          'release\'s SHA256SUMS, e.g. {"amd64": "<64 hex digits>"}',
      });
    }
    if (config.clientPort === config.peerPort) {
      ctx.addIssue({
        code: "custom",
        path: ["peerPort"],
        message: "must differ from clientPort",
      });
    }
    if (Array.isArray(config.members) && new Set(config.members).size !== config.members.length) {
      ctx.addIssue({
        code: "custom",
        path: ["members"],
        message: "names a host twice: each host runs at most one member",
      });
    }
    for (const flag of Object.keys(config.extraFlags)) {
      if (MANAGED_ETCD_FLAGS.includes(flag)) {
        ctx.addIssue({
          code: "custom",
          path: ["extraFlags", flag],
          message: "is set by dockfleet; use the matching etcd option instead",
        });
      }
    }
  });

/** A validated etcd config with every default applied. */
export type EtcdConfig = z.infer<typeof EtcdConfigSchema>;
/** What EtcdCluster's `config` accepts: any subset of the `dockfleet:etcd` keys. */
export type EtcdConfigInput = z.input<typeof EtcdConfigSchema>;

/**
 * Applies every default and check of the etcd config (the same schema as `dockfleet:etcd`). Pure;
 * throws a ConfigError naming each bad key under `keyPrefix`, its value and what is allowed.
 * A resolved config resolves to an equal one.
 */
export function resolveEtcdConfig(
  input: EtcdConfigInput = {},
  keyPrefix = "dockfleet:etcd",
): EtcdConfig {
  return resolveConfig(EtcdConfigSchema, input, keyPrefix, "etcd config");
}

/** The config with every default: what `dockfleet:etcd` means when it is left out. */
export const DEFAULT_ETCD_CONFIG: EtcdConfig = EtcdConfigSchema.parse({});
