import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { PrivateRegistry, type RegistryConfigInput } from "../../components/registry";
import { runDocker } from "../../components/machines/local/docker-cli";
import {
  assertNothingLabelled,
  requireHostImage,
  retryUntilPasses,
  runCommand,
} from "../helpers/docker";
import { localTestEnvironment } from "../helpers/environment";
import {
  ensureBusyboxImage,
  ensureRegistryImage,
  loadImageIntoHostContainers,
  pushBusyboxAsLibraryImage,
  saveImage,
  startRegistryContainer,
} from "../helpers/images";
import {
  assertNothingChanged,
  assertNothingCreatedDeletedOrReplaced,
  changeCounts,
  readBackendFiles,
  removeStackCompletely,
  stepTimer,
} from "../helpers/stack";

/**
 * PrivateRegistry for real, through the Automation API (inline program, real Pulumi CLI, local
 * file backend): three local hosts, then two, the registry as Debian's docker-registry service on
 * host-1 with TLS from its own CA and htpasswd; anonymous push refused, authenticated push from
 * this machine (skopeo), the hosts pull over TLS without insecure-registries, each logged in as
 * its own user, a host that leaves loses its login, the registry comes
 * back after its host restarts, a second `up` changes nothing, pull-through mode serves busybox
 * from an upstream registry to a host that uses it as its mirror, and `destroy` leaves nothing.
 */

const STACK = `registry${process.pid}`;
const SUBNET = "172.30.60.0/24";
const REGISTRY_ADDRESS = "172.30.60.10:5000";
const UPSTREAM_IP = "172.30.60.250";
const IMAGE = `${REGISTRY_ADDRESS}/test/busybox:1`;

let registryConfig: RegistryConfigInput = { username: "fleet" };
/** The test removes the third host after the hosts have pulled. */
let hostCount = 3;

async function program() {
  const environment = localTestEnvironment(STACK, {
    hosts: hostCount,
    local: { subnet: SUBNET },
    // The registry as mirror from the start: only used in pull-through mode, and so switching
    // modes later restarts no engine.
    engine: { registryMirrors: [`https://${REGISTRY_ADDRESS}`] },
  });
  const registry = new PrivateRegistry("registry", {
    engines: environment.engines,
    config: registryConfig,
  });
  return {
    url: registry.url,
    publicUrl: registry.publicUrl,
    mirrorUrl: registry.mirrorUrl,
    username: registry.username,
    password: registry.password,
    caCertPem: registry.caCertPem,
  };
}

const container = (host: string) => localResourceNames(STACK, host).container;

function onHost(host: string, args: string[]): Promise<string> {
  return runDocker(["exec", container(host), "docker", ...args]);
}

/** GET over TLS with the CA; resolves with the status code and body. */
function getTls(url: string, ca: string, auth?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, timeout: 5_000, ...(auth ? { auth } : {}) }, (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on("error", reject)
      .on("timeout", function (this: { destroy(error: Error): void }) {
        this.destroy(new Error(`timeout: ${url}`));
      });
  });
}

/** The local addresses host-1 listens on at the registry's port, "a:p,b:p". */
async function registryListeners(): Promise<string> {
  const port = REGISTRY_ADDRESS.split(":")[1];
  const listening = await runDocker([
    "exec",
    container("host-1"),
    "sh",
    "-c",
    `ss -Hltn 'sport = :${port}' | awk '{ print $4 }' | sort -u | paste -sd, -`,
  ]);
  return listening.trim();
}

describe("PrivateRegistry on local hosts", { timeout: 20 * 60_000 }, () => {
  let stack: Stack;
  let output = "";
  let password = "";
  let caPem = "";
  let busyboxTar = "";
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-registry-test-"));
  const certDir = path.join(work, "certs");
  const authFile = path.join(work, "auth.json");
  const emptyAuthFile = path.join(work, "empty-auth.json");
  const { timings, timed } = stepTimer();
  const up = (label: string) =>
    timed(label, () => stack.up({ onOutput: (line) => (output += line) }));
  /** The manifest of the image pushed in "takes an authenticated push", read as fleet. */
  const getPushedManifest = () =>
    getTls(`https://${REGISTRY_ADDRESS}/v2/test/busybox/manifests/1`, caPem, `fleet:${password}`);
  /** skopeo copy of busybox to the registry; its exit code and output (stdout, then stderr). */
  const skopeoPush = async (auth: string) => {
    const result = await runCommand("skopeo", [
      "copy",
      "--quiet",
      `--dest-cert-dir=${certDir}`,
      `--authfile=${auth}`,
      `docker-archive:${busyboxTar}`,
      `docker://${IMAGE}`,
    ]);
    return { code: result.code, output: `${result.stdout}${result.stderr}` };
  };

  before(async () => {
    requireHostImage();
    busyboxTar = await saveImage(await ensureBusyboxImage());
    fs.mkdirSync(certDir);
    fs.writeFileSync(emptyAuthFile, "{}\n", { mode: 0o600 });
    stack = await LocalWorkspace.createOrSelectStack({
      stackName: STACK,
      projectName: "dockfleet-registry-test",
      program,
    });
  });

  after(async () => {
    // Whatever a failed run left behind (the upstream registry too) is found by label.
    await removeStackCompletely(stack, STACK);
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(busyboxTar, { force: true });
    process.stdout.write(`registry test timings (s): ${JSON.stringify(timings)}\n`);
    const steps = output.split("\n").filter((line) => /: done in [\d.]+ s/.test(line));
    process.stdout.write(`remote steps:\n${steps.join("\n")}\n`);
  });

  it("runs the registry on host-1 over TLS, with its password a secret", async () => {
    const result = await up("first up");
    assert.equal(result.summary.result, "succeeded");
    assert.equal(result.outputs.url.value, REGISTRY_ADDRESS);
    assert.equal(result.outputs.publicUrl.value, REGISTRY_ADDRESS);
    assert.equal(result.outputs.mirrorUrl.value, `https://${REGISTRY_ADDRESS}`);
    assert.equal(result.outputs.username.value, "fleet");
    assert.equal(result.outputs.password.secret, true);
    password = result.outputs.password.value as string;
    assert.match(password, /^[A-Za-z0-9_-]{32}$/);
    caPem = result.outputs.caCertPem.value as string;
    fs.writeFileSync(path.join(certDir, "ca.crt"), caPem);
    const auth = Buffer.from(`fleet:${password}`).toString("base64");
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [REGISTRY_ADDRESS]: { auth } } }), {
      mode: 0o600,
    });
    assert.ok(!readBackendFiles().includes(password), "the registry password is in plain state");
    assert.ok(!output.includes(password), "the registry password is in Pulumi's output");
    // The certificate chains to the CA and names the address: Node verifies both.
    const anonymous = await getTls(`https://${REGISTRY_ADDRESS}/v2/`, caPem);
    assert.equal(anonymous.status, 401);
    const authenticated = await getTls(
      `https://${REGISTRY_ADDRESS}/v2/`,
      caPem,
      `fleet:${password}`,
    );
    assert.equal(authenticated.status, 200);
    assert.equal(
      await registryListeners(),
      REGISTRY_ADDRESS,
      "listens on the private address only",
    );
  });

  it("refuses an anonymous push", async () => {
    const pushed = await timed("anonymous push", () => skopeoPush(emptyAuthFile));
    assert.notEqual(pushed.code, 0, "an anonymous push succeeded");
    assert.match(pushed.output, /unauthorized|authentication required/i);
  });

  it("takes an authenticated push", async () => {
    const pushed = await timed("authenticated push", () => skopeoPush(authFile));
    assert.equal(pushed.code, 0, pushed.output);
  });

  /** The user and password of the host's `docker login` to the registry (config.json). */
  const hostLogin = async (host: string) => {
    const config = JSON.parse(
      await runDocker(["exec", container(host), "cat", "/root/.docker/config.json"]),
    ) as { auths: Record<string, { auth: string }> };
    return Buffer.from(config.auths[REGISTRY_ADDRESS].auth, "base64").toString();
  };

  it("serves the image to every host over TLS, logged in, without insecure-registries", async () => {
    await timed("pull on every host", async () => {
      for (const host of ["host-1", "host-2", "host-3"]) {
        const daemonJson = await runDocker([
          "exec",
          container(host),
          "cat",
          "/etc/docker/daemon.json",
        ]);
        assert.doesNotMatch(daemonJson, /insecure-registries/);
        const loggedIn = await runDocker([
          "exec",
          container(host),
          "cat",
          "/root/.docker/config.json",
        ]);
        assert.match(loggedIn, new RegExp(REGISTRY_ADDRESS.replace(/\./g, "\\.")));
        await onHost(host, ["pull", IMAGE]);
        const said = await onHost(host, ["run", "--rm", IMAGE, "echo", `pulled on ${host}`]);
        assert.equal(said.trim(), `pulled on ${host}`);
        const insecure = await onHost(host, [
          "info",
          "--format",
          "{{json .RegistryConfig.InsecureRegistryCIDRs}} {{range $name, $_ := .RegistryConfig.IndexConfigs}}{{$name}} {{end}}",
        ]);
        assert.doesNotMatch(insecure, /172\.30\.60\./, "the registry is not an insecure one");
        // Its own login: not the operator's password, and one that opens the registry.
        const login = await hostLogin(host);
        assert.match(login, new RegExp(`^fleet-${host}:[A-Za-z0-9_-]{32}$`));
        assert.notEqual(login, `fleet:${password}`);
        assert.equal((await getTls(`https://${REGISTRY_ADDRESS}/v2/`, caPem, login)).status, 200);
      }
    });
  });

  it("takes its login away from a host that leaves the environment", async () => {
    const [left, kept] = [await hostLogin("host-3"), await hostLogin("host-2")];
    hostCount = 2;
    await up("remove host-3");
    const v2 = `https://${REGISTRY_ADDRESS}/v2/`;
    assert.equal((await getTls(v2, caPem, left)).status, 401, "the removed host's login opens it");
    assert.equal((await getTls(v2, caPem, kept)).status, 200, "a remaining host lost its login");
    assert.equal((await getTls(v2, caPem, `fleet:${password}`)).status, 200);
  });

  it("changes nothing on a second up", async () => {
    const result = await up("second up");
    assertNothingChanged(result);
  });

  it("comes back after its host restarts, with the image", async () => {
    await timed("host restart until served", async () => {
      await runDocker(["restart", container("host-1")]);
      await retryUntilPasses(
        "registry answering after the restart",
        async () => {
          const answer = await getTls(`https://${REGISTRY_ADDRESS}/v2/`, caPem);
          assert.equal(answer.status, 401);
        },
        90_000,
      );
      const manifest = await getPushedManifest();
      assert.equal(manifest.status, 200, manifest.body);
      await onHost("host-2", ["rmi", IMAGE]);
      await onHost("host-2", ["pull", IMAGE]);
    });
  });

  it("serves as a pull-through mirror for the hosts", async () => {
    await startRegistryContainer(STACK, `${STACK}-upstream`, UPSTREAM_IP);
    await retryUntilPasses(
      "upstream registry taking busybox",
      () => pushBusyboxAsLibraryImage(busyboxTar, `${UPSTREAM_IP}:5000`),
      90_000,
    );

    const proxy = { remoteUrl: `http://${UPSTREAM_IP}:5000` };
    // Pull-through mode keeps authentication on unless the stack turns it off.
    registryConfig = { username: "fleet", proxy };
    const guarded = await up("switch to pull-through");
    assertNothingCreatedDeletedOrReplaced(changeCounts(guarded));
    const upstreamManifest = `https://${REGISTRY_ADDRESS}/v2/library/busybox/manifests/latest`;
    assert.equal((await getTls(upstreamManifest, caPem)).status, 401, "anonymous read refused");
    const password = guarded.outputs.password.value as string;
    assert.notEqual(password, "");
    assert.equal((await getTls(upstreamManifest, caPem, `fleet:${password}`)).status, 200);

    // Engines send no credentials to a mirror: serving the hosts as one is asked for by name.
    registryConfig = { username: "fleet", authentication: false, proxy };
    const result = await up("open pull-through to the hosts as their mirror");
    const counts = changeCounts(result);
    assertNothingCreatedDeletedOrReplaced(counts);
    assert.ok((counts.update ?? 0) >= 1, JSON.stringify(counts));
    assert.equal(result.outputs.password.value, "", "a mirror serves anonymous reads");

    await timed("pull through the mirror", async () => {
      await onHost("host-2", ["pull", "busybox"]);
      const said = await onHost("host-2", ["run", "--rm", "busybox", "echo", "via the mirror"]);
      assert.equal(said.trim(), "via the mirror");
    });
    // host-2 reached Docker Hub's busybox through the registry: its access log names host-2.
    const host2 = "172.30.60.11";
    await retryUntilPasses(
      "the registry's log of host-2's pull",
      async () => {
        const journal = await runDocker([
          "exec",
          container("host-1"),
          "journalctl",
          "--unit",
          "docker-registry",
          "--no-pager",
        ]);
        const served = journal
          .split("\n")
          .filter((line) => line.includes("/v2/library/busybox/manifests/latest"));
        assert.ok(
          served.some((line) => line.includes(`remoteaddr=${host2}`) || line.includes(`${host2}:`)),
          `no request from ${host2} for library/busybox in the registry's log:\n${served.join("\n")}`,
        );
      },
      20_000,
    );
    const manifest = await getTls(upstreamManifest, caPem);
    assert.equal(manifest.status, 200, "anonymous reads of the upstream's images");
  });

  it("runs as a container from a configured image, on the same data and password", async () => {
    // The test's registry image (Debian's binary) stands in for registry:2 on host-1's engine.
    await loadImageIntoHostContainers(await ensureRegistryImage(), [container("host-1")]);
    registryConfig = { username: "fleet", runAs: "container", image: "dockfleet-test/registry:2" };
    const result = await up("switch to container");
    assertNothingCreatedDeletedOrReplaced(changeCounts(result));
    assert.equal(result.outputs.password.value, password, "the generated password came back");
    const policy = await onHost("host-1", [
      "inspect",
      "--format",
      "{{.HostConfig.RestartPolicy.Name}} {{.State.Running}}",
      "dockfleet-registry",
    ]);
    assert.equal(policy.trim(), "always true");
    const service = await runDocker([
      "exec",
      container("host-1"),
      "sh",
      "-c",
      "systemctl is-enabled docker-registry || true",
    ]);
    assert.match(service, /disabled/);
    assert.equal((await getTls(`https://${REGISTRY_ADDRESS}/v2/`, caPem)).status, 401);
    const manifest = await getPushedManifest();
    assert.equal(manifest.status, 200, "the pushed image is still served");
    // docker-proxy binds the published port on the private address only.
    assert.equal(await registryListeners(), REGISTRY_ADDRESS);
  });

  it("destroys everything it made", async () => {
    await runDocker(["rm", "--force", `${STACK}-upstream`]);
    await timed("destroy", () => stack.destroy());
    await assertNothingLabelled(STACK);
  });
});
