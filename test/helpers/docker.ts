import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import {
  LOCAL_LABELS,
  localNetworkName,
  localResourceNames,
  renderHostRunArgs,
  renderHostVolumeCreateArgs,
  renderNetworkCreateArgs,
} from "../../components/machines/local/run-args";

/** Tests use the client ensure_docker picked (bin/lib/docker.sh exports DOCKER_CLI). */
export const DOCKER_CLI = process.env.DOCKER_CLI ?? "docker";

const REPO_ROOT = path.resolve(__dirname, "../..");

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when ended by a signal (timeout included). */
  code: number | null;
}

export interface RunOptions {
  /** Written to standard input, then closed. */
  input?: string | Buffer;
  /** Killed (SIGKILL) after this long. @default 120_000 */
  timeoutMs?: number;
  /** Working directory. @default the test's */
  cwd?: string;
}

/** The host image tag bin/test exports in DOCKFLEET_HOST_IMAGE; fails the test when it is unset. */
export function requireHostImage(): string {
  const image = process.env.DOCKFLEET_HOST_IMAGE;
  assert.ok(image, "run through bin/test: DOCKFLEET_HOST_IMAGE is unset");
  return image;
}

/** Runs a program, collecting its output; never throws for a non-zero exit code. */
export function runCommand(
  program: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"], cwd: options.cwd });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${program} could not be started: ${error.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        code,
      });
    });
    // A command that exits without reading its input must not crash the test with EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input);
  });
}

function describeFailure(program: string, args: string[], result: CommandResult): string {
  const tail = (text: string) => text.trim().split("\n").slice(-15).join("\n");
  return [
    `command failed: ${program} ${args.map((arg) => (/\s/.test(arg) ? JSON.stringify(arg) : arg)).join(" ")}`,
    `exit code: ${result.code === null ? "killed (timeout?)" : result.code}`,
    `stderr: ${tail(result.stderr) || "(empty)"}`,
    ...(result.stdout.trim() ? [`stdout: ${tail(result.stdout)}`] : []),
  ].join("\n");
}

/** Runs a program and returns its stdout; throws with command, exit code and output tails. */
export async function runOrThrow(
  program: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await runCommand(program, args, options);
  if (result.code !== 0) throw new Error(describeFailure(program, args, result));
  return result.stdout;
}

/** `docker ARGS` on the machine's engine; stdout, or an error naming the command. */
export function docker(args: string[], options: RunOptions = {}): Promise<string> {
  return runOrThrow(DOCKER_CLI, args, options);
}

/** `docker exec [-i] CONTAINER sh -c SCRIPT`; stdout, or an error naming container and script. */
export function dockerExec(
  container: string,
  script: string,
  options: RunOptions = {},
): Promise<string> {
  const interactive = options.input === undefined ? [] : ["--interactive"];
  return docker(["exec", ...interactive, container, "sh", "-c", script], options);
}

/**
 * Runs bash with bin/lib/docker.sh and bin/lib/host-image.sh sourced: the engine is started if
 * needed and the host image built if missing. Returns the image tag (the script's last line).
 */
export async function ensureEngineAndHostImage(): Promise<string> {
  if (process.env.DOCKFLEET_HOST_IMAGE) {
    // bin/setup already did both; trust it but check the engine has the image.
    await docker(["image", "inspect", "--format", "{{.Id}}", process.env.DOCKFLEET_HOST_IMAGE]);
    return process.env.DOCKFLEET_HOST_IMAGE;
  }
  const stdout = await runOrThrow(
    "bash",
    [
      "-c",
      'set -euo pipefail; cd "$1"; source bin/lib/docker.sh; ensure_docker; ' +
        "source bin/lib/host-image.sh; ensure_host_image",
      "ensure-host-image",
      REPO_ROOT,
    ],
    { timeoutMs: 15 * 60_000 },
  );
  const tag = stdout.trim().split("\n").at(-1) ?? "";
  if (!/^dockfleet\/host:[0-9a-f]{16}$/.test(tag)) {
    throw new Error(
      `ensure_host_image printed ${JSON.stringify(tag)}, not a dockfleet/host:<hash> tag`,
    );
  }
  return tag;
}

/**
 * Removes every container, volume and network labelled dockfleet.io/stack=STACK. Every kind is
 * tried even when an earlier one fails; the first failure is thrown at the end.
 */
export async function removeByLabel(stack: string): Promise<void> {
  const filter = `label=${LOCAL_LABELS.stack}=${stack}`;
  const ids = async (args: string[]) => (await docker(args)).split("\n").filter(Boolean);
  const failures: unknown[] = [];
  const removeAll = async (list: string[], remove: string[]) => {
    try {
      const found = await ids([...list, "--quiet", "--filter", filter]);
      if (found.length > 0) await docker([...remove, ...found]);
    } catch (error) {
      failures.push(error);
    }
  };
  await removeAll(["ps", "--all"], ["rm", "--force"]);
  await removeAll(["volume", "ls"], ["volume", "rm", "--force"]);
  await removeAll(["network", "ls"], ["network", "rm"]);
  if (failures.length > 0) throw failures[0];
}

/** Fails when a container, network or volume labelled dockfleet.io/stack=STACK is left. */
export async function assertNothingLabelled(stack: string): Promise<void> {
  for (const kind of ["ps --all", "network ls", "volume ls"]) {
    const left = await docker([
      ...kind.split(" "),
      "--quiet",
      "--filter",
      `label=${LOCAL_LABELS.stack}=${stack}`,
    ]);
    assert.equal(left.trim(), "", `docker ${kind} still lists objects of the stack`);
  }
}

/**
 * Starts host NAME of STACK by hand, as the local driver would: its Docker volume, then its
 * host container at IPV4ADDRESS on the stack's network (which must exist). Returns at once; the
 * container is still booting.
 */
export async function startHostContainer(spec: {
  stack: string;
  name: string;
  image: string;
  ipv4Address: string;
}): Promise<void> {
  await docker(renderHostVolumeCreateArgs({ stack: spec.stack, name: spec.name }));
  await docker(["run", ...renderHostRunArgs({ ...spec, network: localNetworkName(spec.stack) })]);
}

/**
 * A host the operator already has, made by hand (not by dockfleet): the stack's network, a host
 * container from the host image on it, its SSH host key generated, and `authorizedKey` (when
 * given) let in as root. Returns the container's name.
 */
export async function startExistingHost(spec: {
  stack: string;
  name: string;
  subnet: string;
  ipv4Address: string;
  authorizedKey?: string;
}): Promise<string> {
  const { container, network } = localResourceNames(spec.stack, spec.name);
  // Hosts of one stack share its network: the first one creates it.
  const exists = await docker(["network", "inspect", network]).then(
    () => true,
    () => false,
  );
  if (!exists) await docker(renderNetworkCreateArgs({ stack: spec.stack, subnet: spec.subnet }));
  await startHostContainer({ ...spec, image: requireHostImage() });
  await waitFor(
    "the host's SSH keys",
    () => dockerExec(container, "test -s /etc/ssh/ssh_host_ed25519_key.pub"),
    60_000,
  );
  if (spec.authorizedKey !== undefined) {
    await dockerExec(
      container,
      `umask 077; mkdir -p /root/.ssh; echo '${spec.authorizedKey}' > /root/.ssh/authorized_keys`,
    );
  }
  return container;
}

/**
 * Imports a ~2 MB image holding only busybox-static (no registry is reachable here) and returns
 * its tag. Labelled with the stack so removeImagesByLabel can drop it afterwards.
 */
export async function importBusyboxImage(tag: string, stack: string): Promise<string> {
  const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-busybox-"));
  try {
    fs.mkdirSync(path.join(rootfs, "bin"));
    fs.copyFileSync("/bin/busybox", path.join(rootfs, "bin/busybox"));
    fs.chmodSync(path.join(rootfs, "bin/busybox"), 0o755);
    for (const applet of ["sh", "echo", "cat", "hostname", "sleep", "true"]) {
      fs.symlinkSync("busybox", path.join(rootfs, "bin", applet));
    }
    const tarPath = `${rootfs}.tar`;
    await runOrThrow("tar", ["-C", rootfs, "--numeric-owner", "-cf", tarPath, "."]);
    try {
      await docker([
        "import",
        "--change",
        'CMD ["/bin/sh"]',
        "--change",
        "ENV PATH=/bin",
        "--change",
        `LABEL ${LOCAL_LABELS.stack}=${stack}`,
        tarPath,
        tag,
      ]);
    } finally {
      fs.rmSync(tarPath, { force: true });
    }
    return tag;
  } finally {
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

/** Removes the images labelled dockfleet.io/stack=STACK (test images such as busybox). */
export async function removeImagesByLabel(stack: string): Promise<void> {
  const images = (
    await docker(["images", "--quiet", "--filter", `label=${LOCAL_LABELS.stack}=${stack}`])
  )
    .split("\n")
    .filter(Boolean);
  if (images.length > 0) await docker(["rmi", "--force", ...new Set(images)]);
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` with the last error. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}` +
          (lastError instanceof Error ? `; last error:\n${lastError.message}` : ""),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Runs `attempt` until it does not throw (an assertion inside it, a failing command) and returns
 * what it returned; fails after `timeoutMs` with the last error.
 */
export async function retryUntilPasses<T>(
  what: string,
  attempt: () => Promise<T>,
  timeoutMs: number,
  intervalMs = 1000,
): Promise<T> {
  const passed = await waitFor(
    what,
    async () => ({ value: await attempt() }),
    timeoutMs,
    intervalMs,
  );
  return passed.value;
}

/**
 * GET `apiPath` with a client certificate on a TLS API (a Docker API's tcp://host:2376, or an
 * https:// URL such as etcd's): the parsed JSON body; throws on a non-200.
 */
export function getJsonOverTls(
  baseUrl: string,
  tls: { caPem: string; certPem: string; keyPem: string },
  apiPath: string,
): Promise<unknown> {
  const url = `${baseUrl.replace("tcp://", "https://")}${apiPath}`;
  return new Promise((resolve, reject) => {
    https
      .get(
        url,
        { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 15_000 },
        (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (body += chunk));
          response.on("end", () => {
            if (response.statusCode === 200) resolve(JSON.parse(body));
            else reject(new Error(`GET ${url}: ${response.statusCode}: ${body.slice(-500)}`));
          });
        },
      )
      .on("error", reject)
      .on("timeout", () => reject(new Error(`GET ${url}: timed out`)));
  });
}

/** GET /version on a Docker API with a client certificate: "answered <status>" or why not. */
export function dockerApiAnswer(
  dockerHost: string,
  tls: { caPem: string; certPem: string; keyPem: string },
): Promise<string> {
  return new Promise((resolve) => {
    https
      .get(
        `${dockerHost.replace("tcp://", "https://")}/version`,
        { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 15_000 },
        (response) => {
          response.resume();
          resolve(`answered ${response.statusCode}`);
        },
      )
      .on("error", (error) => resolve(`refused: ${error.message}`))
      .on("timeout", () => resolve("timed out"));
  });
}
