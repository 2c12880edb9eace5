import { z } from "zod";
import { resolveConfig } from "../../provision/config/errors";
import { hostDataPathProblem, httpUrl } from "../../provision/config/fields";
import { MANAGED_DAEMON_KEYS } from "./plan";

/**
 * The `dockfleet:engine` stack config: where Docker comes from and how every host's daemon is set
 * up. Every default and check of an engine's settings lives here (mirrorUrl only with source
 * "mirror", daemonOptions keys dockfleet manages); the aliyun driver's default mirror, which
 * involves a key outside `engine`, lives in the stack schema, components/stack/config.ts, which
 * wires this one in under the key `engine`.
 */

/** Presets for `engine.mirrorUrl`: docker-ce repositories laid out like download.docker.com. */
export const DOCKER_CE_MIRROR_PRESETS: Record<string, string> = {
  aliyun: "https://mirrors.aliyun.com/docker-ce",
  tuna: "https://mirrors.tuna.tsinghua.edu.cn/docker-ce",
  ustc: "https://mirrors.ustc.edu.cn/docker-ce",
};

/**
 * host[:port] as Docker expects in insecure-registries (or a CIDR). A CIDR of every address would
 * let anyone on the path serve images over plain HTTP to every host.
 */
const registryHost = z.string().superRefine((value, ctx) => {
  if (/^(0\.0\.0\.0|::)\/0$/.test(value)) {
    ctx.addIssue({
      code: "custom",
      message:
        "trusts every address over plain HTTP (anyone on the path could serve images): name " +
        'the registries, e.g. "10.0.0.5:5000" or "10.0.0.0/24"',
    });
  } else if (!/^[A-Za-z0-9.-]+(:\d{1,5})?(\/\d{1,2})?$/.test(value)) {
    ctx.addIssue({
      code: "custom",
      message: 'must be host[:port] or a CIDR, e.g. "10.0.0.5:5000", without a scheme',
    });
  }
});

export const EngineConfigSchema = z
  .strictObject({
    source: z
      .enum(["distro", "docker-ce", "mirror"])
      .default("distro")
      .describe(
        "Where Docker comes from: the distribution's docker.io, the official docker-ce " +
          "repo, or a mirror of it.",
      ),
    mirrorUrl: z
      .union([z.enum(Object.keys(DOCKER_CE_MIRROR_PRESETS)), httpUrl("https://mirror.example.com")])
      .optional()
      .describe(
        'With source "mirror": a preset name (aliyun, tuna, ustc) or the base URL of a ' +
          "docker-ce mirror.",
      ),
    allowInsecureHttpMirror: z
      .boolean()
      .default(false)
      .describe(
        "Accept an http:// mirrorUrl. Packages are still checked against Docker's signing key " +
          "(shipped with dockfleet), but anyone on the path can see and withhold what a host " +
          "installs, and serve it stale packages.",
      ),
    version: z
      .string()
      .regex(/^[A-Za-z0-9.:~+-]+$/, { message: "must be a package version string" })
      .optional()
      .describe("Package version to pin (apt/dnf version string); unset installs the newest."),
    installRecommends: z
      .boolean()
      .default(false)
      .describe(
        "Install the packages' recommended extras too (apt only). Docker does not need them.",
      ),
    registryMirrors: z
      .array(httpUrl("https://mirror.example.com"))
      .default([])
      .describe("Registry mirrors for Docker Hub pulls (daemon.json registry-mirrors)."),
    insecureRegistries: z
      .array(registryHost)
      .default([])
      .describe(
        "Registries reached over plain HTTP (daemon.json insecure-registries): host[:port] " +
          "or a CIDR, never 0.0.0.0/0.",
      ),
    logMaxSize: z
      .string()
      .regex(/^\d+[kmg]$/, { message: 'must be a size like "10m"' })
      .default("10m")
      .describe("Log rotation for the json-file driver."),
    logMaxFile: z.int().min(1).max(100).default(3),
    storageDriver: z
      .enum(["overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs"])
      .optional()
      .describe("Storage driver (daemon.json storage-driver); unset lets Docker choose."),
    labels: z
      .record(z.string().regex(/^[a-z0-9.-]+$/), z.string())
      .default({})
      .describe("Daemon labels, on every host (the host's own labels are added)."),
    daemonOptions: z
      .record(z.string(), z.unknown())
      .default({})
      .describe(
        "Any other daemon.json option, passed through (keys dockfleet manages are refused; " +
          "data-root must be a directory of Docker's own, outside /etc, /usr and the like).",
      ),
    liveRestore: z
      .boolean()
      .optional()
      .describe(
        "Keep containers running while dockerd restarts (daemon.json live-restore). Unset: on, " +
          "unless the stack runs a swarm (Docker refuses swarm mode with it).",
      ),
    tlsPort: z
      .int()
      .min(1)
      .max(65535)
      .default(2376)
      .describe("Port of the TLS-protected remote API."),
    removeOnDestroy: z
      .boolean()
      .default(false)
      .describe("On destroy, also remove the Docker packages (only what dockfleet installed)."),
  })
  .superRefine((config, ctx) => {
    if (config.source === "mirror" && config.mirrorUrl === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["mirrorUrl"],
        message: `is required when engine.source is "mirror": a preset (${Object.keys(DOCKER_CE_MIRROR_PRESETS).join(", ")}) or a URL`,
      });
    }
    if (config.source !== "mirror" && config.mirrorUrl !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["mirrorUrl"],
        message: `is used only with engine.source "mirror" (engine.source is "${config.source}"): set both, or remove mirrorUrl`,
      });
    }
    if (
      config.mirrorUrl?.startsWith("http://") &&
      config.source === "mirror" &&
      !config.allowInsecureHttpMirror
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["mirrorUrl"],
        message:
          "is plain http, which anyone on the path can read and tamper with: use an https:// " +
          "mirror, or set engine.allowInsecureHttpMirror: true to accept it knowingly",
      });
    }
    // Docker's data directory holds every image and volume: the same rules as a service's data
    // directory, /var/lib/docker (its default) allowed.
    const dataRoot =
      "data-root" in config.daemonOptions
        ? hostDataPathProblem(config.daemonOptions["data-root"], "/srv/docker", "/var/lib/docker")
        : undefined;
    if (dataRoot !== undefined) {
      ctx.addIssue({ code: "custom", path: ["daemonOptions", "data-root"], message: dataRoot });
    }
    for (const key of Object.keys(config.daemonOptions)) {
      if (MANAGED_DAEMON_KEYS.includes(key)) {
        ctx.addIssue({
          code: "custom",
          path: ["daemonOptions", key],
          message:
            "is set by dockfleet from its own keys (engine.registryMirrors, engine.tlsPort, ...): use those",
        });
      }
    }
  });

/** A validated engine config with every default applied. */
export type EngineConfig = z.infer<typeof EngineConfigSchema>;
/** Engine settings as written, before defaults (DockerHost's `engine`). */
export type EngineConfigInput = z.input<typeof EngineConfigSchema>;

/**
 * Applies every default and check of the engine config (the same schema as `dockfleet:engine`).
 * Pure; throws a ConfigError naming each bad key under `keyPrefix`, its value and what is allowed.
 * A resolved config resolves to an equal one.
 */
export function resolveEngineConfig(
  input: EngineConfigInput = {},
  keyPrefix = "dockfleet:engine",
): EngineConfig {
  return resolveConfig(EngineConfigSchema, input, keyPrefix, "engine config");
}

/** The docker-ce base URL an engine config asks for, or undefined for the distro's packages. */
export function dockerCeBaseUrl(engine: EngineConfig): string | undefined {
  if (engine.source === "docker-ce") return "https://download.docker.com";
  if (engine.source === "mirror" && engine.mirrorUrl !== undefined) {
    return DOCKER_CE_MIRROR_PRESETS[engine.mirrorUrl] ?? engine.mirrorUrl;
  }
  return undefined;
}
