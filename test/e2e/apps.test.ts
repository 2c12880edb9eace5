import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { CounterApp, WordPressApp, type AppsRegistry, type AppsSwarm } from "../../components/apps";
import { Environment, resolveStackConfig } from "../../components/stack";
import { localResourceNames } from "../../components/machines/local/run-args";
import { runDocker } from "../../components/machines/local/docker-cli";
import { closeAllSshClients, getSshClient, type SshConnectionArgs } from "../../provision/ssh";
import { assertNothingLabelled, requireHostImage, waitFor } from "../helpers/docker";
import { ensureRegistryImage, saveImage } from "../helpers/images";
import {
  ROOT,
  assertNothingChanged,
  readBackendFiles,
  removeStackCompletely,
  upPrintingOutput,
} from "../helpers/stack";

/**
 * The sample apps end to end on the local driver: three hosts, a swarm and a private registry
 * (set up by hand below until SwarmCluster and PrivateRegistry land), then CounterApp and
 * WordPressApp through the real Pulumi CLI (an inline program), images pushed to the registry
 * and pulled from it by every node; a host restart; removing the apps; destroy.
 */

const STACK = `apps${process.pid}`;
const SUBNET = "172.30.65.0/24";
const REGISTRY_USER = "dockfleet";
const REGISTRY_PASSWORD = `registry-${process.pid}-${Date.now()}`;
const COUNTER_PORT = 8000;
const WORDPRESS_PORT = 8080;
// This machine's kernel has no IPVS (no /proc/sys/net/ipv4/vs): the routing mesh cannot work, so
// the apps publish in host mode there (one web task per node binds the port).
const PUBLISH_MODE = fs.existsSync("/proc/sys/net/ipv4/vs") ? "ingress" : "host";

interface HostOutput {
  name: string;
  address: string;
}

/** What the inline program builds: the hosts only, or the hosts and the apps. */
interface ProgramInput {
  withApps: boolean;
  registryUrl: string;
  caPem: string;
  swarmReady: string;
  images: Record<string, string>;
}

const programInput: ProgramInput = {
  withApps: false,
  registryUrl: "",
  caPem: "",
  swarmReady: "",
  images: {},
};

async function program() {
  const config = resolveStackConfig({
    "dockfleet:hosts": "3",
    "dockfleet:local": JSON.stringify({ subnet: SUBNET }),
  });
  const environment = new Environment(STACK, {
    stack: STACK,
    config,
    hostImage: process.env.DOCKFLEET_HOST_IMAGE,
  });
  const outputs: Record<string, unknown> = {
    hosts: environment.machines.map((machine) => ({
      name: machine.name,
      address: machine.publicAddress,
    })),
    sshPrivateKey: environment.sshPrivateKey,
  };
  if (!programInput.withApps) return outputs;

  const swarm: AppsSwarm = { manager: environment.machines[0], ready: programInput.swarmReady };
  const registry: AppsRegistry = {
    url: programInput.registryUrl,
    username: REGISTRY_USER,
    password: pulumi.secret(REGISTRY_PASSWORD),
    caPem: programInput.caPem,
  };
  const counter = new CounterApp(
    "counter",
    {
      swarm,
      registry,
      publishMode: PUBLISH_MODE,
      settings: {
        port: COUNTER_PORT,
        webImage: programInput.images.counter,
        redisImage: programInput.images.redis,
      },
    },
    { dependsOn: environment.engines },
  );
  const wordpress = new WordPressApp(
    "wordpress",
    {
      swarm,
      registry,
      publishMode: PUBLISH_MODE,
      settings: {
        port: WORDPRESS_PORT,
        wordpressImage: programInput.images.wordpress,
        databaseImage: programInput.images.mariadb,
      },
    },
    { dependsOn: environment.engines },
  );
  return {
    ...outputs,
    counterUrl: counter.url,
    counterImages: counter.images,
    wordpressInstallUrl: wordpress.installUrl,
    wordpressImages: wordpress.images,
    databasePassword: wordpress.databasePassword,
  };
}

describe("sample apps on the swarm, end to end", { timeout: 30 * 60_000 }, () => {
  let stack: Stack;
  let hosts: HostOutput[] = [];
  let sshKey = "";
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-apps-e2e-"));
  const ssh = (host: HostOutput): SshConnectionArgs => ({ host: host.address, privateKey: sshKey });
  const onHost = async (host: HostOutput, command: string, stdin?: string | Buffer) =>
    (await (await getSshClient(ssh(host))).execOrThrow(command, stdin ? { stdin } : {})).stdout;

  before(async () => {
    requireHostImage();
    const started = Date.now();
    const built = execFileSync(
      "bash",
      [
        "-c",
        "set -euo pipefail; source bin/lib/docker.sh; ensure_docker; source bin/lib/app-images.sh; ensure_app_images",
      ],
      { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 30 * 60_000 },
    );
    for (const line of built.trim().split("\n")) {
      const [app, tag] = line.split("=");
      programInput.images[app] = tag;
    }
    assert.deepEqual(Object.keys(programInput.images).sort(), [
      "counter",
      "mariadb",
      "redis",
      "wordpress",
    ]);
    console.log(`app images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: STACK, projectName: "dockfleet", program },
      { workDir: ROOT },
    );
  });

  after(async () => {
    await closeAllSshClients();
    await removeStackCompletely(stack, STACK);
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("brings up three hosts, a swarm and a private registry (by hand for now)", async () => {
    const result = await upPrintingOutput(stack);
    hosts = result.outputs.hosts.value as HostOutput[];
    sshKey = result.outputs.sshPrivateKey.value as string;
    assert.equal(hosts.length, 3);
    const [manager, ...workers] = hosts;

    // Swarm: init on the first host's address, join the others.
    await onHost(
      manager,
      `docker swarm init --advertise-addr ${manager.address} >/dev/null || true`,
    );
    const token = (await onHost(manager, "docker swarm join-token -q worker")).trim();
    await Promise.all(
      workers.map((worker) =>
        onHost(
          worker,
          `docker info --format '{{.Swarm.LocalNodeState}}' | grep -qx active || docker swarm join --token ${token} ${manager.address}:2377`,
        ),
      ),
    );
    programInput.swarmReady = (
      await onHost(manager, "docker info --format '{{.Swarm.Cluster.ID}}'")
    ).trim();

    // Registry on the manager: TLS from a CA of our own, htpasswd, every engine trusts the CA.
    const registryUrl = `${manager.address}:5000`;
    const openssl = (args: string[]) =>
      execFileSync("openssl", args, { cwd: workDir, stdio: "ignore" });
    openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=apps-e2e-ca",
    ]);
    openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "registry.key",
      "-out",
      "registry.csr",
      "-subj",
      "/CN=registry",
    ]);
    fs.writeFileSync(path.join(workDir, "ext"), `subjectAltName=IP:${manager.address}\n`);
    openssl([
      "x509",
      "-req",
      "-in",
      "registry.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "registry.crt",
      "-days",
      "2",
      "-extfile",
      "ext",
    ]);
    const htpasswd = execFileSync("htpasswd", ["-niB", REGISTRY_USER], {
      input: REGISTRY_PASSWORD,
      encoding: "utf8",
    });
    const caPem = fs.readFileSync(path.join(workDir, "ca.crt"), "utf8");
    const registryImage = await saveImage(await ensureRegistryImage());
    await onHost(manager, "docker load", fs.readFileSync(registryImage));
    fs.rmSync(registryImage, { force: true });
    const client = await getSshClient(ssh(manager));
    await client.execOrThrow("install -d -m 0700 /etc/apps-e2e-registry");
    await client.putContent(
      "/etc/apps-e2e-registry/registry.crt",
      fs.readFileSync(path.join(workDir, "registry.crt")),
      0o644,
    );
    await client.putContent(
      "/etc/apps-e2e-registry/registry.key",
      fs.readFileSync(path.join(workDir, "registry.key")),
      0o600,
    );
    await client.putContent("/etc/apps-e2e-registry/htpasswd", htpasswd, 0o644);
    await onHost(
      manager,
      "docker run -d --name apps-e2e-registry --restart always -p 5000:5000 " +
        "-v /etc/apps-e2e-registry:/certs:ro -v apps-e2e-registry:/var/lib/registry " +
        "-e REGISTRY_HTTP_TLS_CERTIFICATE=/certs/registry.crt -e REGISTRY_HTTP_TLS_KEY=/certs/registry.key " +
        "-e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM=dockfleet " +
        "-e REGISTRY_AUTH_HTPASSWD_PATH=/certs/htpasswd dockfleet-test/registry:2",
    );
    await Promise.all(
      hosts.map(async (host) => {
        const hostClient = await getSshClient(ssh(host));
        await hostClient.execOrThrow(`install -d /etc/docker/certs.d/${registryUrl}`);
        await hostClient.putContent(`/etc/docker/certs.d/${registryUrl}/ca.crt`, caPem, 0o644);
      }),
    );
    programInput.registryUrl = registryUrl;
    programInput.caPem = caPem;
    const nodes = await onHost(manager, "docker node ls --format '{{.Hostname}} {{.Status}}'");
    assert.equal(
      nodes
        .trim()
        .split("\n")
        .filter((line) => line.endsWith("Ready")).length,
      3,
      nodes,
    );
  });

  it("deploys both apps from images pushed to the private registry", async () => {
    programInput.withApps = true;
    const started = Date.now();
    const result = await upPrintingOutput(stack);
    console.log(`apps up took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const images = {
      ...result.outputs.counterImages.value,
      ...result.outputs.wordpressImages.value,
    };
    for (const reference of Object.values(images) as string[]) {
      assert.match(
        reference,
        new RegExp(`^${programInput.registryUrl}/dockfleet/apps-[a-z]+@sha256:[0-9a-f]{64}$`),
      );
    }
    assert.equal(result.outputs.databasePassword.secret, true);
    assert.equal(result.outputs.counterUrl.value, `http://${hosts[0].address}:${COUNTER_PORT}/`);
  });

  it("counts visits on every node's published port, from replicas on different hosts", async () => {
    const seen = new Set<string>();
    let previous = 0;
    for (const host of [...hosts, ...hosts]) {
      const page = await waitFor(
        `the counter on ${host.name}`,
        () => httpGet(host.address, COUNTER_PORT, "/"),
        120_000,
        1000,
      );
      assert.equal(page.status, 200, page.body);
      const visits = Number(/id="visits">(\d+)</.exec(page.body)?.[1]);
      const hostname = /id="hostname">([^<]+)</.exec(page.body)?.[1];
      assert.ok(visits > previous, `the count went from ${previous} to ${visits}: ${page.body}`);
      previous = visits;
      assert.ok(hostname);
      seen.add(hostname);
    }
    assert.ok(seen.size >= 2, `every answer came from the same container: ${[...seen].join(", ")}`);
  });

  it("answers WordPress's install page, with the database reached through the secret", async () => {
    for (const host of hosts) {
      const page = await waitForWordPressInstallPage(host, `WordPress on ${host.name}`, 120_000);
      assert.match(page.body, /<title>WordPress &rsaquo; Installation<\/title>/);
    }
  });

  it("runs the tasks on several nodes, each pulling its image from the private registry", async () => {
    const [manager] = hosts;
    const tasks = await onHost(
      manager,
      "docker service ps counter_web --filter desired-state=running --format '{{.Node}} {{.Image}}'",
    );
    const lines = tasks.trim().split("\n");
    const nodes = new Set(lines.map((line) => line.split(" ")[0]));
    assert.ok(nodes.size >= 2, `counter_web runs on ${[...nodes].join(", ")} only`);
    for (const line of lines)
      assert.ok(line.split(" ")[1].startsWith(`${programInput.registryUrl}/`), line);
    for (const host of hosts.slice(1)) {
      const pulled = await onHost(
        host,
        "docker image ls --digests --format '{{.Repository}}@{{.Digest}}'",
      );
      assert.match(
        pulled,
        new RegExp(`^${programInput.registryUrl}/dockfleet/apps-counter@sha256:`, "m"),
      );
    }
  });

  it("keeps the database password out of the stack file, the services and the state", async () => {
    const stackOutputs = await stack.outputs();
    const password = stackOutputs.databasePassword.value as string;
    assert.ok(password.length >= 24);
    const [manager] = hosts;
    const files = await onHost(
      manager,
      "cat /var/lib/dockfleet/stacks/*/stack.yml; docker service inspect wordpress_db wordpress_wordpress",
    );
    assert.ok(!files.includes(password), "the password is in a stack file or a service spec");
    assert.ok(!readBackendFiles().includes(password), "the password is in plain state");
    assert.ok(
      !readBackendFiles().includes(REGISTRY_PASSWORD),
      "the registry password is in plain state",
    );
    const secrets = await onHost(manager, "docker secret ls --format '{{.Name}}'");
    assert.match(secrets, /^wordpress_db_password_v1$/m);
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await stack.up());
  });

  it("comes back after a host restart without another up", async () => {
    const restarted = hosts[1];
    await closeAllSshClients();
    await runDocker([
      "restart",
      "--time",
      "20",
      localResourceNames(STACK, restarted.name).container,
    ]);
    const page = await waitFor(
      `the counter on ${restarted.name} after its restart`,
      async () => {
        const answer = await httpGet(restarted.address, COUNTER_PORT, "/");
        return answer.status === 200 && /id="visits">\d+</.test(answer.body) ? answer : undefined;
      },
      240_000,
      1000,
    );
    assert.match(page.body, /Hostname:/);
    await waitForWordPressInstallPage(
      restarted,
      "WordPress's install page after the restart",
      240_000,
    );
  });

  it("removes the stacks, their networks and secrets when the apps leave the program", async () => {
    programInput.withApps = false;
    const result = await stack.up();
    assert.equal(result.summary.result, "succeeded");
    const [manager] = hosts;
    const left = await onHost(
      manager,
      "docker stack ls --format '{{.Name}}'; docker secret ls -q; " +
        "docker network ls -q --filter label=com.docker.stack.namespace; docker service ls -q",
    );
    assert.equal(left.trim(), "", `left on the manager: ${left}`);
  });

  it("destroys everything it made", async () => {
    await closeAllSshClients();
    await stack.destroy();
    await assertNothingLabelled(STACK);
  });
});

/** Polls (every second) until WordPress's install page on HOST answers 200; that answer. */
function waitForWordPressInstallPage(host: HostOutput, what: string, timeoutMs: number) {
  return waitFor(
    what,
    async () => {
      const answer = await httpGet(host.address, WORDPRESS_PORT, "/wp-admin/install.php");
      return answer.status === 200 ? answer : undefined;
    },
    timeoutMs,
    1000,
  );
}

function httpGet(
  host: string,
  port: number,
  urlPath: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host, port, path: urlPath, timeout: 10_000, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    request.on("timeout", () =>
      request.destroy(new Error(`GET http://${host}:${port}${urlPath} timed out`)),
    );
    request.on("error", reject);
  });
}
