import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LOCAL_LABELS, localNetworkName } from "../../components/machines/local/run-args";
import { docker as runDocker, importBusyboxImage, runOrThrow } from "./docker";

/**
 * Test images made from Debian packages, since no registry is reachable here: a 2 MB busybox
 * (busybox-static) and the distribution registry (docker-registry) with just its binary and libc.
 */

export const BUSYBOX_IMAGE = "dockfleet-test/busybox:1";
export const REGISTRY_IMAGE = "dockfleet-test/registry:2";

async function imageExists(tag: string): Promise<boolean> {
  return (await runDocker(["images", "--quiet", tag])).trim() !== "";
}

async function importRootfs(tag: string, rootfs: string, changes: string[]): Promise<void> {
  const tarball = path.join(os.tmpdir(), `${tag.replace(/[/:]/g, "-")}.tar`);
  execFileSync("tar", ["-C", rootfs, "-cf", tarball, "."]);
  await runDocker([
    "import",
    ...changes.flatMap((change) => ["--change", change]),
    "--change",
    "LABEL dockfleet.io/component=test-image",
    tarball,
    tag,
  ]);
  fs.rmSync(tarball, { force: true });
}

/** The busybox test image, imported once and then found by its tag. */
export async function ensureBusyboxImage(): Promise<string> {
  if (await imageExists(BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
  return importBusyboxImage(BUSYBOX_IMAGE, "test-images");
}

const REGISTRY_CONFIG = `version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
`;

export async function ensureRegistryImage(): Promise<string> {
  if (await imageExists(REGISTRY_IMAGE)) return REGISTRY_IMAGE;
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), "registry-"));
  const files = [
    "/usr/bin/docker-registry",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
  ];
  for (const file of files) {
    fs.mkdirSync(path.join(rootfs, path.dirname(file)), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), path.join(rootfs, file));
    fs.chmodSync(path.join(rootfs, file), 0o755);
  }
  fs.mkdirSync(path.join(rootfs, "etc/docker/registry"), { recursive: true });
  fs.mkdirSync(path.join(rootfs, "var/lib/registry"), { recursive: true });
  fs.mkdirSync(path.join(rootfs, "tmp"), { recursive: true });
  fs.writeFileSync(path.join(rootfs, "etc/docker/registry/config.yml"), REGISTRY_CONFIG);
  await importRootfs(REGISTRY_IMAGE, rootfs, [
    'ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]',
  ]);
  fs.rmSync(rootfs, { recursive: true, force: true });
  return REGISTRY_IMAGE;
}

/**
 * Starts the test registry (plain HTTP on port 5000) as container NAME at IP on STACK's local
 * network, labelled with the stack so that removeByLabel takes it away with the hosts.
 */
export async function startRegistryContainer(stack: string, name: string, ip: string) {
  await runDocker([
    "run",
    "--detach",
    "--name",
    name,
    "--network",
    localNetworkName(stack),
    "--ip",
    ip,
    "--label",
    `${LOCAL_LABELS.stack}=${stack}`,
    await ensureRegistryImage(),
  ]);
}

/**
 * Pushes a saved busybox image (saveImage) to the plain-HTTP registry at ADDRESS (host:port) as
 * library/busybox:latest, Docker Hub's name for it; throws with skopeo's output when it fails.
 */
export async function pushBusyboxAsLibraryImage(tarball: string, address: string) {
  await runOrThrow("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    `docker-archive:${tarball}`,
    `docker://${address}/library/busybox:latest`,
  ]);
}

/**
 * Loads image TAG into the Docker engine inside each of the host CONTAINERS (docker save here,
 * docker cp into the container, docker load there); the tarball here is removed afterwards.
 */
export async function loadImageIntoHostContainers(tag: string, containers: string[]) {
  const tarball = await saveImage(tag);
  const inside = `/tmp/${path.basename(tarball)}`;
  try {
    for (const container of containers) {
      await runDocker(["cp", tarball, `${container}:${inside}`]);
      await runDocker(["exec", container, "docker", "load", "--input", inside]);
    }
  } finally {
    fs.rmSync(tarball, { force: true });
  }
}

/** `docker save` of an image into a temporary tarball (for `docker load` or skopeo). */
export async function saveImage(tag: string): Promise<string> {
  const tarball = path.join(os.tmpdir(), `${tag.replace(/[/:]/g, "-")}-${process.pid}.tar`);
  await runDocker(["save", "--output", tarball, tag]);
  return tarball;
}
