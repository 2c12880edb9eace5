import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { runMachineTool } from "../../machines/local/docker-cli";
import { hasDrifted } from "../../../provision/dynamic/host-facts";
import { createStepLog } from "../../../provision/dynamic/log";
import {
  createProgressThrottle,
  renderProgress,
  type Progress,
} from "../../../provision/dynamic/progress";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";

/**
 * An image copied from this machine's Docker engine into a private registry with skopeo
 * (layers the registry already holds are not sent again). The output `reference` names the
 * pushed image by digest, so a rebuilt image changes the reference and redeploys its stack.
 *
 * check() records the local image's ID, so a rebuilt image under the same tag is pushed again.
 * The password reaches skopeo in a temporary auth file (mode 0600), never on a command line.
 * delete() leaves the image in the registry (the registry is removed with the environment).
 */

interface AppImagePushInputs {
  /** The image in this machine's Docker engine ("dockfleet/apps-counter:latest"). */
  source: string;
  /** Filled in by check(): the local image's ID. */
  sourceImageId?: string;
  /** host:port */
  registryUrl: string;
  username: string;
  password: string;
  /** PEM of the CA that signed the registry's certificate. */
  caPem: string;
  logUrn: string;
}

interface AppImagePushOutputs extends AppImagePushInputs {
  /** registry/repository@sha256:... */
  reference: string;
  digest: string;
  /** What the last refresh found amiss (host-facts.ts's drift, for an image in a registry). */
  drift?: string[];
}

/** Pure: where an image goes in the registry: same repository path and tag. */
export function planPushTarget(source: string, registryUrl: string): string {
  const withoutDigest = source.split("@")[0];
  const lastSlash = withoutDigest.lastIndexOf("/");
  const lastColon = withoutDigest.lastIndexOf(":");
  const hasTag = lastColon > lastSlash;
  const repository = hasTag ? withoutDigest.slice(0, lastColon) : withoutDigest;
  const tag = hasTag ? withoutDigest.slice(lastColon + 1) : "latest";
  // A registry host in the source ("registry:5000/x") is dropped: the path stays.
  const firstPart = repository.split("/")[0];
  const isRegistryHost =
    repository.includes("/") &&
    (firstPart.includes(".") || firstPart.includes(":") || firstPart === "localhost");
  const path = isRegistryHost ? repository.slice(firstPart.length + 1) : repository;
  return `${registryUrl}/${path}:${tag}`;
}

/**
 * Pure: the progress a line of `skopeo copy` makes, as the `copied`-th blob of `layers`: without
 * --quiet and not on a terminal, skopeo prints "Copying blob sha256:…" as each layer starts.
 * Undefined for its other lines.
 */
export function layerProgress(line: string, copied: number, layers: number): Progress | undefined {
  const blob = /^Copying blob (?:sha256:)?([0-9a-f]{12})/.exec(line.trim());
  if (blob === null) return undefined;
  return {
    what: "layers",
    done: copied,
    total: Math.max(layers, copied),
    detail: `copying ${blob[1]}`,
  };
}

/** How many layers the local image has: what `skopeo copy` copies, one blob each. */
async function localLayerCount(source: string): Promise<number> {
  const count = await runMachineTool("docker", [
    "image",
    "inspect",
    "--format",
    "{{len .RootFS.Layers}}",
    source,
  ]);
  return Number(count.trim()) || 0;
}

async function localImageId(source: string): Promise<string> {
  try {
    return (
      await runMachineTool("docker", ["image", "inspect", "--format", "{{.Id}}", source])
    ).trim();
  } catch (error) {
    throw new Error(
      `image "${source}" is not in this machine's Docker engine, so it cannot be pushed to the ` +
        "private registry. Build the sample app images first (`source bin/lib/docker.sh && " +
        "ensure_docker && source bin/lib/app-images.sh && ensure_app_images`), or set " +
        "dockfleet:apps pushImages: false with images every node can pull.\n" +
        (error as Error).message,
      { cause: error },
    );
  }
}

/**
 * Runs `body` with the registry's CA in a cert dir and the login in an auth file (mode 0600), in
 * a folder of their own that is removed afterwards: the password never reaches a command line.
 */
async function withRegistryCredentials<T>(
  inputs: AppImagePushInputs,
  body: (files: { dir: string; certDir: string; authFile: string }) => Promise<T>,
): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-push-"));
  try {
    const certDir = path.join(dir, "certs");
    fs.mkdirSync(certDir);
    fs.writeFileSync(path.join(certDir, "ca.crt"), inputs.caPem);
    const auth = Buffer.from(`${inputs.username}:${inputs.password}`).toString("base64");
    const authFile = path.join(dir, "auth.json");
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [inputs.registryUrl]: { auth } } }), {
      mode: 0o600,
    });
    return await body({ dir, certDir, authFile });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What refresh finds of a pushed image: nothing when the registry still holds its digest (or does
 * not answer: the registry's own resource reports that, and pushing again would not help).
 */
async function driftOf(props: AppImagePushOutputs): Promise<string[]> {
  return withRegistryCredentials(props, async ({ certDir, authFile }) => {
    try {
      await runMachineTool("skopeo", [
        "inspect",
        "--raw",
        "--authfile",
        authFile,
        "--cert-dir",
        certDir,
        `docker://${props.reference}`,
      ]);
      return [];
    } catch (error) {
      return /manifest unknown/i.test((error as Error).message)
        ? [`${props.reference} is no longer in the registry`]
        : [];
    }
  });
}

async function push(inputs: AppImagePushInputs): Promise<AppImagePushOutputs> {
  const target = planPushTarget(inputs.source, inputs.registryUrl);
  const log = createStepLog(inputs.logUrn, `push ${inputs.source} to ${target}`);
  const started = Date.now();
  return withRegistryCredentials(inputs, async ({ dir, certDir, authFile }) => {
    const digestFile = path.join(dir, "digest");
    const layers = await localLayerCount(inputs.source);
    const show = createProgressThrottle((line) => log.progress(line));
    let copied = 0;
    log.progress(renderProgress({ what: "layers", done: 0, total: layers }));
    const onLine = (line: string) => {
      const progress = layerProgress(line, copied + 1, layers);
      if (progress === undefined) return;
      copied += 1;
      show(progress);
    };
    await runMachineTool(
      "skopeo",
      [
        "copy",
        "--dest-authfile",
        authFile,
        "--dest-cert-dir",
        certDir,
        "--digestfile",
        digestFile,
        `docker-daemon:${inputs.source}`,
        `docker://${target}`,
      ],
      { onLine },
    );
    const digest = fs.readFileSync(digestFile, "utf8").trim();
    log.info(`pushed ${digest} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const repository = target.slice(0, target.lastIndexOf(":"));
    return { ...inputs, reference: `${repository}@${digest}`, digest, drift: [] };
  });
}

export const appImagePushProvider: pulumi.dynamic.ResourceProvider<
  AppImagePushInputs,
  AppImagePushOutputs
> = {
  async check(_olds, news) {
    return { inputs: { ...news, sourceImageId: await localImageId(news.source) } };
  },
  async create(inputs) {
    const outs = await push(inputs);
    return { id: outs.reference, outs };
  },
  async read(id, props) {
    return { id, props: props && { ...props, drift: await driftOf(props) } };
  },
  async diff(_id, olds, news) {
    if (hasDrifted(olds)) return { changes: true };
    const keys = [
      "source",
      "sourceImageId",
      "registryUrl",
      "username",
      "password",
      "caPem",
    ] as const;
    return { changes: keys.some((key) => olds[key] !== news[key]) };
  },
  async update(_id, _olds, news) {
    return { outs: await push(news) };
  },
};

export type AppImagePushArgs = ResourceArgs<AppImagePushInputs>;

const appImagePushSpec = {
  type: "AppImagePush",
  module: __filename,
  provider: "appImagePushProvider",
  secrets: ["password"],
  outputs: ["sourceImageId", "reference", "digest"],
};

/** One local image pushed to the private registry (see the provider above). */
export class AppImagePush extends DynamicResource {
  /** registry/repository@sha256:..., what the stack file deploys. */
  declare readonly reference: pulumi.Output<string>;
  declare readonly digest: pulumi.Output<string>;

  constructor(name: string, args: AppImagePushArgs, opts?: pulumi.CustomResourceOptions) {
    super(appImagePushSpec, name, args, opts);
  }
}
