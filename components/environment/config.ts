import { isIPv4 } from "node:net";
import { z } from "zod";
import { MANAGED_DAEMON_KEYS } from "../../provision/render/daemon-json";

/**
 * The one schema for a stack's `dockfleet:*` config. Every default and check lives here, so that a
 * bad stack file stops `pulumi preview` before any resource exists, with an error naming the key,
 * the value and what is allowed.
 */

const NAMESPACE = "dockfleet";

/** Presets for `engine.mirrorUrl`: docker-ce repositories laid out like download.docker.com. */
export const DOCKER_CE_MIRROR_PRESETS: Record<string, string> = {
  aliyun: "https://mirrors.aliyun.com/docker-ce",
  tuna: "https://mirrors.tuna.tsinghua.edu.cn/docker-ce",
  ustc: "https://mirrors.ustc.edu.cn/docker-ce",
};

const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^\s/]+/.test(value) && URL.canParse(value), {
    message: 'must be an http(s) URL, e.g. "https://mirror.example.com"',
  });

/** host[:port] as Docker expects in insecure-registries (or a CIDR). */
const registryHost = z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?(\/\d{1,2})?$/, {
  message: 'must be host[:port] or a CIDR, e.g. "10.0.0.5:5000", without a scheme',
});

const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, {
  message: "must be 2-32 characters of a-z, 0-9 and '-', starting with a letter",
});

const ipv4Cidr = z.string().refine(
  (value) => {
    const [address, bits, ...rest] = value.split("/");
    const prefix = Number(bits);
    return (
      rest.length === 0 &&
      isIPv4(address) &&
      Number.isInteger(prefix) &&
      prefix >= 16 &&
      prefix <= 28
    );
  },
  { message: 'must be an IPv4 CIDR with a prefix from /16 to /28, e.g. "172.30.10.0/24"' },
);

const EngineConfig = z.strictObject({
  /** Where Docker comes from: the distribution's docker.io, the official docker-ce repo, or a mirror of it. */
  source: z.enum(["distro", "docker-ce", "mirror"]).default("distro"),
  /** With source "mirror": a preset name (aliyun, tuna, ustc) or the base URL of a docker-ce mirror. */
  mirrorUrl: z.union([z.enum(Object.keys(DOCKER_CE_MIRROR_PRESETS)), httpUrl]).optional(),
  /** Package version to pin (apt/dnf version string); unset installs the newest. */
  version: z
    .string()
    .regex(/^[A-Za-z0-9.:~+-]+$/, { message: "must be a package version string" })
    .optional(),
  /** Install the packages' recommended extras too (apt only). Docker does not need them. */
  installRecommends: z.boolean().default(false),
  /** Registry mirrors for Docker Hub pulls (daemon.json registry-mirrors). */
  registryMirrors: z.array(httpUrl).default([]),
  /** Registries reached over plain HTTP (daemon.json insecure-registries). */
  insecureRegistries: z.array(registryHost).default([]),
  /** Log rotation for the json-file driver. */
  logMaxSize: z
    .string()
    .regex(/^\d+[kmg]$/, { message: 'must be a size like "10m"' })
    .default("10m"),
  logMaxFile: z.int().min(1).max(100).default(3),
  /** Storage driver (daemon.json storage-driver); unset lets Docker choose. */
  storageDriver: z.enum(["overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs"]).optional(),
  /** Daemon labels, on every host (the host's own labels are added). */
  labels: z.record(z.string().regex(/^[a-z0-9.-]+$/), z.string()).default({}),
  /** Any other daemon.json option, passed through (keys dockfleet manages are refused). */
  daemonOptions: z.record(z.string(), z.unknown()).default({}),
  /** Port of the TLS-protected remote API. */
  tlsPort: z.int().min(1).max(65535).default(2376),
  /** On destroy, also remove the Docker packages (only what dockfleet installed). */
  removeOnDestroy: z.boolean().default(false),
});

const LocalDriverConfig = z.strictObject({
  /** Subnet of the stack's own Docker network; hosts get fixed addresses from .10 on. */
  subnet: ipv4Cidr.default("172.30.10.0/24"),
});

const SshHostConfig = z.strictObject({
  name: hostName,
  /** Address the operator reaches the host at. */
  address: z.string().min(1),
  /** Address other hosts reach it at (swarm, etcd); @default address */
  privateAddress: z.string().min(1).optional(),
  port: z.int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .default("root"),
  /** The host's public key ("ssh-ed25519 AAAA..."); unset pins the key seen on first contact. */
  hostKey: z
    .string()
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/, {
      message: 'must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA..."',
    })
    .optional(),
  labels: z.record(z.string(), z.string()).default({}),
});

export const StackConfigSchema = z
  .strictObject({
    /** Which driver creates the hosts. */
    driver: z.enum(["local", "ssh"]).default("local"),
    /** How many hosts the local driver creates. */
    hosts: z.int().min(1).max(20).default(3),
    /** Host names are `<namePrefix>-1`, `<namePrefix>-2`, ... */
    namePrefix: hostName.default("host"),
    local: LocalDriverConfig.default(LocalDriverConfig.parse({})),
    /** The ssh driver's existing hosts. */
    sshHosts: z.array(SshHostConfig).default([]),
    engine: EngineConfig.default(EngineConfig.parse({})),
    /** ssh driver: the private key for the hosts. Set it with `pulumi config set --secret`. */
    sshPrivateKey: z
      .string()
      .regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, {
        message: "must be a PEM or OpenSSH private key",
      })
      .optional(),
  })
  .superRefine((config, ctx) => {
    if (config.engine.source === "mirror" && config.engine.mirrorUrl === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["engine", "mirrorUrl"],
        message: `is required when engine.source is "mirror": a preset (${Object.keys(DOCKER_CE_MIRROR_PRESETS).join(", ")}) or a URL`,
      });
    }
    if (config.driver === "ssh" && config.sshHosts.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["sshHosts"],
        message: 'must list at least one host when driver is "ssh"',
      });
    }
    for (const key of Object.keys(config.engine.daemonOptions)) {
      if (MANAGED_DAEMON_KEYS.includes(key)) {
        ctx.addIssue({
          code: "custom",
          path: ["engine", "daemonOptions", key],
          message:
            "is set by dockfleet from its own keys (engine.registryMirrors, engine.tlsPort, ...): use those",
        });
      }
    }
    const seen = new Set<string>();
    config.sshHosts.forEach((host, index) => {
      if (seen.has(host.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["sshHosts", index, "name"],
          message: "is used by another host: host names must be unique",
        });
      }
      seen.add(host.name);
    });
  });

export type StackConfig = z.infer<typeof StackConfigSchema>;
export type EngineConfig = StackConfig["engine"];
export type SshHostConfig = StackConfig["sshHosts"][number];

/** Thrown for invalid stack config; the message lists every problem, one per line. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/** Config values arrive as strings; structured and scalar YAML values as JSON text. */
function decodeConfigValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Keys whose values are never quoted back in an error. */
const SECRET_KEYS = new Set(["sshPrivateKey"]);

function formatKey(path: PropertyKey[]): string {
  return path
    .reduce<string>(
      (key, part) => (typeof part === "number" ? `${key}[${part}]` : `${key}.${String(part)}`),
      NAMESPACE,
    )
    .replace(`${NAMESPACE}.`, `${NAMESPACE}:`);
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, part) =>
      value !== null && typeof value === "object"
        ? (value as Record<PropertyKey, unknown>)[part]
        : undefined,
    input,
  );
}

function describeIssue(input: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map(
        (key) =>
          `${formatKey([...issue.path, key])}: unknown key (check the spelling; see README "Stack config")`,
      )
      .join("\n  - ");
  }
  const value = valueAt(input, issue.path);
  const shown =
    value === undefined
      ? "(missing)"
      : SECRET_KEYS.has(String(issue.path[0]))
        ? "[secret]"
        : JSON.stringify(value);
  let message = issue.message;
  if (issue.code === "invalid_value") {
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  } else if (issue.code === "too_small" && typeof value === "number") {
    message = `must be at least ${String(issue.minimum)}`;
  } else if (issue.code === "too_big" && typeof value === "number") {
    message = `must be at most ${String(issue.maximum)}`;
  }
  return `${formatKey(issue.path)} = ${shown}: ${message}`;
}

/**
 * Validates the stack's config (as `pulumi.runtime.allConfig()` returns it: "dockfleet:key" →
 * string) and applies every default. Keys of other namespaces (aws:, pulumi:) are ignored.
 * Pure: reads no environment, never mutates its input.
 */
export function resolveStackConfig(allConfig: Record<string, string>): StackConfig {
  const input: Record<string, unknown> = {};
  for (const [fullKey, raw] of Object.entries(allConfig)) {
    const [namespace, key] = fullKey.split(":", 2);
    if (namespace === NAMESPACE && key !== undefined) {
      input[key] = decodeConfigValue(raw);
    }
  }
  const result = StackConfigSchema.safeParse(input);
  if (!result.success) {
    throw new StackConfigError(result.error.issues.map((issue) => describeIssue(input, issue)));
  }
  return result.data;
}

/** The docker-ce base URL an engine config asks for, or undefined for the distro's packages. */
export function dockerCeBaseUrl(engine: EngineConfig): string | undefined {
  if (engine.source === "docker-ce") return "https://download.docker.com";
  if (engine.source === "mirror" && engine.mirrorUrl !== undefined) {
    return DOCKER_CE_MIRROR_PRESETS[engine.mirrorUrl] ?? engine.mirrorUrl;
  }
  return undefined;
}
