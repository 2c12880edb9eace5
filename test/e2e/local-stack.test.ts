import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Stack } from "@pulumi/pulumi/automation";
import { LIST_SERVICES, servicesNotConverged } from "../../components/engine/swarm-services";
import { localResourceNames } from "../../components/machines/local/run-args";
import { type DockerTlsOutput, parseOutputMap } from "../../components/stack/outputs";
import { createCertificateAuthority, issueClientCertificate } from "../../provision/pki";
import { closeAllSshClients, getSshClient, type SshConnectionArgs } from "../../provision/ssh";
import {
  assertNothingLabelled,
  docker as runDocker,
  dockerExec,
  requireHostImage,
  retryUntilPasses,
  runCommand,
  waitFor,
} from "../helpers/docker";
import {
  ensureBusyboxImage,
  pushBusyboxAsLibraryImage,
  saveImage,
  startRegistryContainer,
} from "../helpers/images";
import {
  ROOT,
  assertNothingChanged,
  assertNothingCreatedDeletedOrReplaced,
  changeCounts,
  collectStateStrings,
  type HostOutput,
  openStack,
  readBackendFiles,
  removeStackCompletely,
  resourceOutputs,
  secretNeedles,
  secretPlaintext,
  upPrintingOutput,
  writeStackConfig,
} from "../helpers/stack";
import { ArgvWatcher, linesWithSecrets } from "../helpers/argv-watcher";

/**
 * One local stack of three hosts, through the program itself (index.ts, the Automation API, the
 * real Pulumi CLI, the local file backend), brought up once and checked in this order:
 *  - the stack: three host containers, Docker installed over SSH, each remote step's progress in
 *    the `pulumi up` output, a container run on every host through the TLS API;
 *  - the dockfleet CLI (client files in $DOCKFLEET_HOME/<stack>): `ls` sees the engines answer
 *    over TLS, `env` points the real Docker CLI at a host, `context` makes a docker context,
 *    `ssh` and `ssh-config` log in with the system OpenSSH client and strict host key checking,
 *    unknown names fail with a clear message;
 *  - the sample apps: a second `up` turns on the program's chain, swarm -> registry -> apps
 *    (SwarmCluster, PrivateRegistry with TLS from the environment's CA and htpasswd, CounterApp
 *    and WordPressApp), images pushed from this machine into the registry and pulled from it by
 *    every node;
 *  - security, over the whole chain's state: no secret value on any command line of the hosts or
 *    of this machine while the two `up`s ran (`ps -eo args` sampled every 100 ms), no secret in
 *    plain text in the backend's files, the
 *    Docker API only for clients with a certificate from the environment's CA, SSH without
 *    passwords, dockfleet's key files readable by root only.
 * Then what changes the stack, last: an `up` that changes nothing, a host restart the apps come
 * back from, the apps leaving the program, an in-place mirror change (Docker restarts on every
 * host, nothing else changes), and a `destroy` that leaves nothing.
 */

const STACK = `e2e${process.pid}`;
const SUBNET = "172.30.21.0/24";
const MIRROR_ADDRESS = "172.30.21.250";
/** A mirror that is only configured, never reached: reloading it needs no registry there. */
const UNUSED_MIRROR_ADDRESS = "172.30.21.251";
const DOCKER_UNIX_SOCKET = "unix:///var/run/docker.sock";
const DOCKFLEET = path.join(ROOT, "bin", "dockfleet");
const COUNTER_PORT = 8000;
const WORDPRESS_PORT = 8080;
// This machine's kernel has no IPVS (no /proc/sys/net/ipv4/vs): the routing mesh cannot work, so
// the apps publish in host mode there (one web task per node binds the port).
const PUBLISH_MODE = fs.existsSync("/proc/sys/net/ipv4/vs") ? "ingress" : "host";

/** What the stack file holds besides three local hosts. */
interface StackSettings {
  registryMirrors: string[];
  /** engine.logMaxSize: a daemon.json change that needs Docker restarted. */
  logMaxSize: string;
  /** The program's chain: a swarm of the hosts and a private registry. */
  swarmAndRegistry: boolean;
  /** The sample apps on them (with swarmAndRegistry). */
  apps: boolean;
  /** The apps' images (app=tag lines of bin/lib/app-images.sh). */
  images: Record<string, string>;
}

const settings: StackSettings = {
  registryMirrors: [],
  logMaxSize: "10m",
  swarmAndRegistry: false,
  apps: false,
  images: {},
};

/** Writes the stack file from `settings`, after applying CHANGE to them. */
function writeConfig(change: Partial<StackSettings> = {}): void {
  Object.assign(settings, change);
  const { images } = settings;
  writeStackConfig(STACK, {
    hosts: 3,
    local: { subnet: SUBNET },
    engine: { registryMirrors: settings.registryMirrors, logMaxSize: settings.logMaxSize },
    // As in the local stack: etcd's keys on the hosts, beside Docker's (the trust domains' test).
    etcd: { enabled: true },
    ...(settings.swarmAndRegistry && {
      swarm: { enabled: true, managers: 3 },
      registry: { enabled: true },
      apps: {
        enabled: settings.apps,
        publishMode: PUBLISH_MODE,
        counter: { port: COUNTER_PORT, webImage: images.counter, redisImage: images.redis },
        wordpress: {
          port: WORDPRESS_PORT,
          wordpressImage: images.wordpress,
          databaseImage: images.mariadb,
        },
      },
    }),
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** GET /version on the host's TLS API with the given client certificate (or none). */
function getVersion(
  host: HostOutput,
  caPem: string,
  client?: { certPem: string; keyPem: string },
): Promise<string> {
  return getPath(host, caPem, client, "/version");
}

/** GET `apiPath` on the host's TLS API: "answered <status>", "refused: ..." or "timed out". */
function getPath(
  host: HostOutput,
  caPem: string,
  client: { certPem: string; keyPem: string } | undefined,
  apiPath: string,
): Promise<string> {
  const url = `${host.dockerHost.replace("tcp://", "https://")}${apiPath}`;
  return new Promise((resolve) => {
    https
      .get(
        url,
        { ca: caPem, cert: client?.certPem, key: client?.keyPem, timeout: 15_000 },
        (response) => {
          response.resume();
          resolve(`answered ${response.statusCode}`);
        },
      )
      .on("error", (error) => resolve(`refused: ${error.message}`))
      .on("timeout", () => resolve("timed out"));
  });
}

/**
 * How long the swarm's API may pause while the leader's dockerd restarts: raft's election timeout
 * (10 s), the restart, and one sample's request that waited for the new leader (15 s at most).
 */
const MANAGER_PAUSE_LIMIT_MS = 30_000;

describe("local stack, end to end", { timeout: 40 * 60_000 }, () => {
  let stack: Stack;
  let upOutput = "";
  let hosts: HostOutput[] = [];
  let tls: DockerTlsOutput;
  let sshPrivateKey: string;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-e2e-"));
  const certDir = path.join(work, "certs");
  const docker = (host: HostOutput, args: string[]) =>
    runDocker([
      "--tlsverify",
      `--tlscacert=${certDir}/ca.pem`,
      `--tlscert=${certDir}/cert.pem`,
      `--tlskey=${certDir}/key.pem`,
      `--host=${host.dockerHost}`,
      ...args,
    ]);
  const ssh = (host: HostOutput): SshConnectionArgs => ({
    host: host.address,
    privateKey: sshPrivateKey,
  });
  const onHost = async (host: HostOutput, command: string) =>
    (await (await getSshClient(ssh(host))).execOrThrow(command)).stdout;
  /** Every container of every host with the time it started. */
  const containerStarts = async () =>
    Object.fromEntries(
      await Promise.all(
        hosts.map(async (host) => [
          host.name,
          await onHost(
            host,
            "docker ps -q | sort | xargs -r docker inspect --format '{{.Name}} {{.State.StartedAt}}'",
          ),
        ]),
      ),
    );
  /** containerStarts once every swarm service runs all its replicas and two looks 2 s apart agree. */
  const settledContainerStarts = async () => {
    let last: Record<string, string> | undefined;
    return waitFor(
      "every service at its replica count and the same containers in two looks",
      async () => {
        const services = await onHost(hosts[0], LIST_SERVICES);
        const now = await containerStarts();
        const settled =
          servicesNotConverged(services).length === 0 &&
          JSON.stringify(now) === JSON.stringify(last);
        last = now;
        return settled ? now : undefined;
      },
      60_000,
      2000,
    );
  };
  /** What Docker reports of every host's containers since `since` (Unix seconds), to say why. */
  const containerEvents = async (since: number) =>
    (
      await Promise.all(
        hosts.map(async (host) => {
          const events = await onHost(
            host,
            `docker events --since ${since} --until "$(date +%s)" --filter type=container ` +
              "--format '{{.Time}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}'",
          );
          return `${host.name}:\n${events}`;
        }),
      )
    ).join("\n");
  const dockerRestarts = () => dockerRestartsOn(hosts, onHost);
  /** Every command line seen while the stack and then the apps came up. */
  const watcher = new ArgvWatcher(
    ["host-1", "host-2", "host-3"].map((name) => localResourceNames(STACK, name).container),
  );
  let commandLines: Awaited<ReturnType<ArgvWatcher["stop"]>> | undefined;

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
    const images: Record<string, string> = {};
    for (const line of built.trim().split("\n")) {
      const [app, tag] = line.split("=");
      images[app] = tag;
    }
    assert.deepEqual(Object.keys(images).sort(), ["counter", "mariadb", "redis", "wordpress"]);
    console.log(`app images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    writeConfig({ images });
    stack = await openStack(STACK);
    watcher.start();
  });

  after(async () => {
    await watcher.stop().catch(() => undefined);
    await closeAllSshClients();
    await runDocker(["rm", "--force", `${STACK}-mirror`]).catch(() => undefined);
    await removeStackCompletely(stack, STACK);
    fs.rmSync(work, { recursive: true, force: true });
  });

  describe("the stack", () => {
    it("brings up three hosts whose Docker API answers over TLS", async () => {
      const result = await stack.up({
        onOutput: (line) => {
          upOutput += line;
          process.stdout.write(line);
        },
      });
      assert.equal(result.summary.result, "succeeded");
      const outputs = parseOutputMap(result.outputs);
      hosts = outputs.hosts;
      assert.deepEqual(
        hosts.map((host) => host.name),
        ["host-1", "host-2", "host-3"],
      );
      tls = outputs.dockerTls;
      assert.equal(result.outputs.sshPrivateKey.secret, true, "sshPrivateKey is a secret output");
      sshPrivateKey = outputs.sshPrivateKey;
      fs.mkdirSync(certDir, { mode: 0o700 });
      fs.writeFileSync(path.join(certDir, "ca.pem"), tls.caPem);
      fs.writeFileSync(path.join(certDir, "cert.pem"), tls.certPem);
      fs.writeFileSync(path.join(certDir, "key.pem"), tls.keyPem, { mode: 0o600 });

      const busybox = await saveImage(await ensureBusyboxImage());
      for (const host of hosts) {
        assert.match(host.dockerHost, /^tcp:\/\/172\.30\.21\.\d+:2376$/);
        await docker(host, ["load", "--input", busybox]);
        const said = await docker(host, [
          "run",
          "--rm",
          "dockfleet-test/busybox:1",
          "echo",
          `hi from ${host.name}`,
        ]);
        assert.equal(said.trim(), `hi from ${host.name}`);
        const info = await docker(host, ["info", "--format", "{{.Name}} {{json .Labels}}"]);
        assert.match(info, new RegExp(`^${host.name} .*dockfleet.io/host=${host.name}`));
      }
      fs.rmSync(busybox, { force: true });
    });

    it("shows each remote step's progress and duration in the `pulumi up` output", (t) => {
      for (const line of upOutput.split("\n").filter((text) => / done in /.test(text))) {
        t.diagnostic(line.trim());
      }
      for (const host of hosts.map((entry) => entry.name)) {
        assert.match(upOutput, new RegExp(`${host}: install docker: done in \\d+(\\.\\d)? s`));
        assert.match(upOutput, new RegExp(`${host}: configure docker: done in \\d+(\\.\\d)? s`));
      }
    });
  });

  describe("the dockfleet CLI", () => {
    const home = path.join(work, "home");
    // The CLI writes client files under DOCKFLEET_HOME, Docker contexts under DOCKER_CONFIG.
    const env = {
      ...process.env,
      DOCKFLEET_HOME: path.join(home, "dockfleet"),
      DOCKER_CONFIG: path.join(home, "docker"),
      DOCKFLEET_STACK: STACK,
    };
    const bash = (script: string): Promise<Run> =>
      new Promise((resolve) => {
        execFile(
          "bash",
          ["-c", script],
          { env, cwd: os.tmpdir(), timeout: 120_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const dockfleet = (args: string) => bash(`${DOCKFLEET} ${args}`);

    before(() => {
      fs.mkdirSync(home, { recursive: true });
    });

    it("ls lists every host as reachable, with the engine's version", async () => {
      const run = await dockfleet(`ls --format json`);
      assert.equal(run.code, 0, run.stderr);
      const rows = JSON.parse(run.stdout) as {
        name: string;
        reachable: boolean;
        dockerVersion: string;
        address: string;
      }[];
      assert.deepEqual(
        rows.map((row) => [row.name, row.reachable]),
        [
          ["host-1", true],
          ["host-2", true],
          ["host-3", true],
        ],
      );
      assert.match(rows[0].address, /^172\.30\.21\.\d+$/);
      assert.match(rows[0].dockerVersion, /^\d+\.\d+/);
      const table = await dockfleet(`ls -s ${STACK}`);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^NAME\s+DRIVER\s+ADDRESS\s+STATE\s+REACHABLE\s+DOCKER\s+SWARM/);
      assert.match(
        table.stdout,
        /\nhost-2\s+local\s+172\.30\.21\.\d+\s+Running\s+yes\s+\d+\.\d+\S*\s+-/,
      );
    });

    it("env: `eval` then `docker info` reaches the host's engine over TLS", async () => {
      const run = await bash(
        `lines="$(${DOCKFLEET} env host-1)" && eval "$lines" && docker info --format '{{.Name}}' && echo "$DOCKER_HOST $DOCKER_TLS_VERIFY $DOCKER_CERT_PATH"`,
      );
      assert.equal(run.code, 0, run.stderr);
      const [name, variables] = run.stdout.trim().split("\n");
      assert.equal(name, "host-1");
      const [dockerHost, verify, certPath] = variables.split(" ");
      assert.match(dockerHost, /^tcp:\/\/172\.30\.21\.\d+:2376$/);
      assert.equal(verify, "1");
      // The stack's client files, one folder for every host: $DOCKFLEET_HOME/<stack>.
      assert.equal(certPath, path.join(home, "dockfleet", STACK));
      for (const file of ["ca.pem", "cert.pem", "key.pem"]) {
        assert.equal(fs.statSync(path.join(certPath, file)).mode & 0o777, 0o600, file);
      }
      assert.equal(fs.statSync(certPath).mode & 0o777, 0o700);
      const printed = await dockfleet("env host-1");
      assert.match(
        printed.stdout,
        new RegExp(
          `# Run this command to configure your shell:\\n# eval "\\$\\(dockfleet env -s ${STACK} --shell bash host-1\\)"`,
        ),
      );
      const unset = await bash(
        `eval "$(${DOCKFLEET} env host-1)"; eval "$(${DOCKFLEET} env --unset)"; echo "[\${DOCKER_HOST:-}]"`,
      );
      assert.equal(unset.stdout.trim(), "[]");
    });

    it("context: creates a docker context that reaches the host, and updates it on a second run", async () => {
      const first = await dockfleet("context host-2");
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, new RegExp(`created docker context dockfleet-${STACK}-host-2`));
      const second = await dockfleet("context host-2");
      assert.match(second.stderr, /updated docker context/);
      const info = await bash(
        `docker --context dockfleet-${STACK}-host-2 info --format '{{.Name}}'`,
      );
      assert.equal(info.stdout.trim(), "host-2", info.stderr);
    });

    it("ssh: runs a command on the host and returns its exit code", async () => {
      const run = await dockfleet("ssh host-1 hostname");
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), "host-1");
      // Like ssh, the words are joined and run by the remote shell.
      const failing = await dockfleet("ssh host-2 'exit 7'");
      assert.equal(failing.code, 7);
    });

    it("ssh-config: the system OpenSSH client logs in with strict host key checking", async () => {
      // OpenSSH closes every descriptor above stderr before it reads -F, so `ssh -F <(...)` cannot
      // work with any producer ("Can't open user config file /dev/fd/63"); the config is read from
      // stdin or from a file instead.
      const run = await bash(
        `ssh -F /dev/stdin host-1 true < <(${DOCKFLEET} ssh-config) && ` +
          `${DOCKFLEET} ssh-config >"${home}/ssh_config" && ssh -F "${home}/ssh_config" host-2 hostname`,
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), "host-2");
      const config = (await dockfleet("ssh-config host-1")).stdout;
      assert.match(
        config,
        /^Host host-1\n {2}HostName 172\.30\.21\.\d+\n {2}User root\n {2}Port 22\n/,
      );
      assert.match(config, /StrictHostKeyChecking yes/);
      // The pinned key is what makes it work: a wrong one in the known_hosts file is refused.
      const knownHosts = path.join(home, "dockfleet", STACK, "known_hosts");
      assert.equal(fs.statSync(knownHosts).mode & 0o777, 0o600);
      const forged = await bash(
        `${DOCKFLEET} ssh-config host-1 >"${home}/config" && ` +
          `ssh-keygen -q -t ed25519 -N '' -f "${home}/forged" && ` +
          `sed -i "s|ssh-ed25519 .*|$(cut -d' ' -f1,2 "${home}/forged.pub")|" "${knownHosts}" && ` +
          `ssh -F "${home}/config" -o BatchMode=yes host-1 true`,
      );
      assert.notEqual(forged.code, 0);
      assert.match(
        forged.stderr,
        /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/,
      );
    });

    it("fails with a clear message and a non-zero exit code for an unknown stack or host", async () => {
      const host = await dockfleet("env host-9");
      assert.equal(host.code, 1);
      assert.match(
        host.stderr,
        new RegExp(
          `no host named "host-9" in stack "${STACK}" \\(hosts: host-1, host-2, host-3\\)`,
        ),
      );
      const sshHost = await dockfleet("ssh nope true");
      assert.equal(sshHost.code, 1);
      const unknown = await dockfleet("ls -s nosuchstack");
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, new RegExp(`no stack named "nosuchstack" .*stacks: .*${STACK}`));
    });
  });

  describe("the sample apps", () => {
    let registryUrl = "";
    let registryPassword = "";

    it("turns on the program's swarm, registry and apps: three nodes ready, the registry on host-1", async () => {
      writeConfig({ swarmAndRegistry: true, apps: true });
      const started = Date.now();
      const result = await upPrintingOutput(stack);
      console.log(`up with the apps took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      commandLines = await watcher.stop();
      const outputs = parseOutputMap(result.outputs);
      // The same hosts; host-1 now also lists the registry's certificate (beside Docker's and
      // its etcd member's two).
      const withoutCertificates = (list: HostOutput[]) =>
        list.map(({ certificates: _certificates, ...host }) => host);
      assert.deepEqual(withoutCertificates(outputs.hosts), withoutCertificates(hosts));
      assert.deepEqual(
        outputs.hosts[0]?.certificates?.map((certificate) => certificate.use).sort(),
        ["docker", "etcd", "etcd-peer", "registry"],
      );
      assert.ok(outputs.privateRegistry, "the registry's output");
      registryUrl = outputs.privateRegistry.url;
      registryPassword = outputs.privateRegistry.password;
      assert.equal(registryUrl, `${hosts[0].address}:5000`);
      const nodes = await onHost(hosts[0], "docker node ls --format '{{.Hostname}} {{.Status}}'");
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
      const { deployment } = await stack.exportStack();
      const pushed = [
        "counter-web-image",
        "counter-redis-image",
        "wordpress-wordpress-image",
        "wordpress-database-image",
      ].map((name) => resourceOutputs(deployment, name).reference);
      for (const reference of pushed) {
        assert.match(
          String(reference),
          new RegExp(`^${registryUrl}/dockfleet/apps-[a-z]+@sha256:[0-9a-f]{64}$`),
        );
      }
      // The database password is generated by the stack's deploy, and kept secret in the state.
      secretPlaintext(resourceOutputs(deployment, "wordpress-stack").secretValues);
      const { apps } = parseOutputMap(await stack.outputs());
      assert.equal(apps.counter, `http://${hosts[0].address}:${COUNTER_PORT}/`);
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
      assert.ok(
        seen.size >= 2,
        `every answer came from the same container: ${[...seen].join(", ")}`,
      );
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
      for (const line of lines) assert.ok(line.split(" ")[1].startsWith(`${registryUrl}/`), line);
      for (const host of hosts.slice(1)) {
        const pulled = await onHost(
          host,
          "docker image ls --digests --format '{{.Repository}}@{{.Digest}}'",
        );
        assert.match(pulled, new RegExp(`^${registryUrl}/dockfleet/apps-counter@sha256:`, "m"));
      }
    });

    it("keeps the database password out of the stack file, the services and the state", async () => {
      const { deployment } = await stack.exportStack();
      const secretValues = secretPlaintext(
        resourceOutputs(deployment, "wordpress-stack").secretValues,
      );
      const password = (secretValues as Record<string, string>).db_password;
      assert.ok(password.length >= 24);
      const [manager] = hosts;
      const files = await onHost(
        manager,
        "cat /var/lib/dockfleet/stacks/*/stack.yml; docker service inspect wordpress_db wordpress_wordpress",
      );
      assert.ok(!files.includes(password), "the password is in a stack file or a service spec");
      assert.ok(!readBackendFiles().includes(password), "the password is in plain state");
      assert.ok(
        !readBackendFiles().includes(registryPassword),
        "the registry password is in plain state",
      );
      const secrets = await onHost(manager, "docker secret ls --format '{{.Name}}'");
      assert.match(secrets, /^wordpress_db_password_v1$/m);
    });
  });

  describe("security", () => {
    const container = localResourceNames(STACK, "host-1").container;

    it("keeps every secret value out of the backend's files", async () => {
      // The export (with --show-secrets) holds each secret's value: the test searches for them all.
      const exported = await stack.exportStack();
      const { secretValues, plainValues } = collectStateStrings(exported.deployment);
      // Part of a private key is public: a PKCS#8 EC key ends with its public point, which the
      // certificate (plain, rightly) holds too. Such lines are not searched for.
      const publicText = [...plainValues].join("\n");
      const secrets = [...secretValues];
      for (const known of [tls.keyPem, sshPrivateKey]) {
        assert.ok(secrets.includes(known), "a known secret is not marked secret in the state");
      }
      const privateKeys = secrets.filter((value) => /PRIVATE KEY-----/.test(value));
      // The SSH key, the CA key, the client key and the hosts' server keys at least.
      assert.ok(privateKeys.length >= 4, `only ${privateKeys.length} private keys in the state`);
      const files = readBackendFiles();
      let searched = 0;
      for (const secret of secrets) {
        for (const needle of secretNeedles(secret).filter((line) => !publicText.includes(line))) {
          searched += 1;
          assert.ok(
            !files.includes(needle) && !files.includes(JSON.stringify(needle).slice(1, -1)),
            `a secret value is in plain text in the backend's files (it starts ${needle.slice(0, 6)}...)`,
          );
        }
      }
      assert.ok(searched >= privateKeys.length * 2, `searched only ${searched} needles`);
      // The client's TLS key and the SSH key (history and backups included): no line of their
      // bodies at all, not even one that public text holds too.
      for (const key of [tls.keyPem, sshPrivateKey]) {
        const body = key
          .split("\n")
          .filter((line) => line.length > 20 && !line.startsWith("-----"));
        assert.ok(body.length > 0);
        for (const line of body)
          assert.ok(!files.includes(line), "a private key is in plain state");
      }
    });

    it("put no secret value on a command line, on the hosts or here, while up ran", async () => {
      assert.ok(commandLines, "the command lines were collected after the apps' up");
      const { secretValues, plainValues } = collectStateStrings(
        (await stack.exportStack()).deployment,
      );
      const publicText = [...plainValues].join("\n");
      const needles = [...secretValues].flatMap((secret) =>
        secretNeedles(secret).filter((line) => !publicText.includes(line)),
      );
      // Private keys, the registry and database passwords, the swarm join tokens at least.
      assert.ok(needles.length >= 20, `only ${needles.length} secret values to look for`);
      assert.equal(commandLines.hosts.size, 3, "every host was watched");
      for (const [container, lines] of commandLines.hosts) {
        // The watcher saw the deployment: dockfleet's scripts and the swarm join ran there.
        assert.ok(
          [...lines].some((line) => /bash -s|DOCKFLEET_ENV/.test(line)),
          `${container}: no script seen`,
        );
        assert.deepEqual(linesWithSecrets(lines, needles), [], container);
      }
      assert.ok(
        [...commandLines.local].some((line) => /pulumi/.test(line)),
        "no pulumi seen here",
      );
      assert.deepEqual(linesWithSecrets(commandLines.local, needles), [], "this machine");
    });

    it("answers a client holding a certificate from the environment's CA", async () => {
      assert.equal(await getVersion(hosts[0], tls.caPem, tls), "answered 200");
    });

    it("refuses a client without a certificate", async () => {
      assert.match(await getVersion(hosts[0], tls.caPem), /^refused: /);
    });

    it("refuses a client whose certificate another CA signed", async () => {
      const otherCa = await createCertificateAuthority({ commonName: "another CA" });
      const stranger = await issueClientCertificate(otherCa, { commonName: "dockfleet-client" });
      assert.match(await getVersion(hosts[0], tls.caPem, stranger), /^refused: /);
    });

    it("opens no other host's Docker API with an etcd key taken from a host", async () => {
      // Both of host-1's etcd keys: client-side and peer, each a client certificate of its CA.
      for (const name of ["member", "peer"]) {
        const key = {
          certPem: await dockerExec(container, `cat /etc/etcd/pki/${name}.pem`),
          keyPem: await dockerExec(container, `cat /etc/etcd/pki/${name}-key.pem`),
        };
        assert.match(key.certPem, /BEGIN CERTIFICATE/);
        assert.match(await getVersion(hosts[1], tls.caPem, key), /^refused: /, name);
      }
    });

    it("turns SSH password login off", async () => {
      const effective = await dockerExec(container, "sshd -T");
      assert.match(effective, /^passwordauthentication no$/m);
      assert.match(effective, /^kbdinteractiveauthentication no$/m);
      assert.match(effective, /^permitrootlogin without-password$/m);
      // A real client asking for passwords only is told the server takes public keys only.
      const attempt = await runCommand("ssh", [
        "-o",
        "BatchMode=yes",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
        `root@${hosts[0].address}`,
        "true",
      ]);
      assert.equal(attempt.code, 255);
      assert.match(attempt.stderr, /Permission denied \(publickey\)/);
    });

    it("writes its key files mode 0600, owned by root", async () => {
      for (const file of ["/etc/docker/tls/key.pem", "/root/.ssh/authorized_keys"]) {
        const mode = await dockerExec(container, `stat -c '%a %U %G' ${file}`);
        assert.equal(mode.trim(), "600 root root", file);
      }
      // The staged copies (the server key among them) are gone once applied.
      const staged = await dockerExec(container, "ls -d /etc/docker/dockfleet.staged 2>&1 || true");
      assert.match(staged, /No such file/);
    });

    it("keeps the registry's key, password file and config.yml to the registry's user (0600)", async () => {
      const registryHost = localResourceNames(STACK, hosts[0].name).container;
      const dir = "/etc/dockfleet/registry";
      for (const file of [`${dir}/config.yml`, `${dir}/tls/key.pem`, `${dir}/htpasswd`]) {
        const mode = await dockerExec(registryHost, `stat -c '%a %U %G' ${file}`);
        assert.equal(mode.trim(), "600 docker-registry docker-registry", file);
      }
    });
  });

  describe("what changes the stack, last", () => {
    it("changes nothing on a second up", async () => {
      assertNothingChanged(await stack.up());
    });

    it("upgrade host-2: the package manager upgrades Docker, the node is back in the swarm", async () => {
      const upgraded = hosts[1];
      // Debian offers one docker.io: host-2 gets the same package relabelled a version older
      // (without restarting docker), so that the upgrade to the mirror's version is a real one.
      const older = await onHost(
        upgraded,
        "set -e; cd /tmp; rm -rf older && mkdir older && cd older; " +
          "apt-get download -q docker.io >/dev/null 2>&1; dpkg-deb -R docker.io_*.deb pkg; " +
          "sed -i 's/^Version: .*/&~older/' pkg/DEBIAN/control; dpkg-deb -b pkg older.deb >/dev/null; " +
          "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; " +
          "dpkg -i older.deb >/dev/null 2>&1; rm -f /usr/sbin/policy-rc.d; cd /tmp; rm -rf older; " +
          "dpkg-query -W -f '${Version}' docker.io",
      );
      assert.match(older, /~older$/);
      const run = await new Promise<{ code: number; output: string; stdout: string }>((resolve) => {
        execFile(
          DOCKFLEET,
          ["upgrade", upgraded.name, "--json"],
          {
            env: {
              ...process.env,
              DOCKFLEET_HOME: path.join(work, "home", "dockfleet"),
              DOCKFLEET_STACK: STACK,
            },
            timeout: 10 * 60_000,
            maxBuffer: 64 * 1024 * 1024,
          },
          (error, stdout, stderr) =>
            resolve({
              code: error ? Number(error.code ?? 1) : 0,
              output: `${stdout}${stderr}`,
              stdout,
            }),
        );
      });
      assert.equal(run.code, 0, run.output.slice(-4000));
      // --json: stdout is the summary alone (bin/up's output went to stderr).
      const summary = JSON.parse(run.stdout) as {
        hosts: { name: string; dockerVersion: string }[];
      };
      assert.deepEqual(
        summary.hosts.map((host) => host.name),
        [upgraded.name],
      );
      const now = await onHost(upgraded, "dpkg-query -W -f '${Version}' docker.io");
      assert.equal(now, older.replace(/~older$/, ""), "docker.io is the mirror's version again");
      assert.match(
        run.output,
        new RegExp(`upgraded docker.io from ${older.replace(/[.+~]/g, "\\$&")}`),
      );
      assert.match(run.output, /DockerInstall .*host-2-engine-install updat/);
      assert.doesNotMatch(
        run.output,
        /host-(1|3)-engine-install updat/,
        "only host-2 was upgraded",
      );
      // Back in the swarm, as the manager sees it; and the stack is as the program wants it.
      const manager = hosts[0];
      const state = await onHost(
        manager,
        `docker node inspect --format '{{.Status.State}}' ${upgraded.name}`,
      );
      assert.equal(state.trim(), "ready");
      const preview = await stack.preview();
      assert.deepEqual(
        Object.keys(preview.changeSummary).filter((kind) => kind !== "same"),
        [],
        JSON.stringify(preview.changeSummary),
      );
    });

    it("refresh shows drift made by hand on the hosts, up repairs it, the next refresh is clean", async () => {
      const [registryHost, trustingHost, editedHost] = hosts;
      // The TLS listener taken out of daemon.json and Docker restarted: the API is gone.
      await onHost(
        editedHost,
        `sed -i -e 's|"${DOCKER_UNIX_SOCKET}",|"${DOCKER_UNIX_SOCKET}"|' ` +
          `-e '/"tcp:\\/\\/0.0.0.0:2376"/d' /etc/docker/daemon.json && systemctl restart docker`,
      );
      assert.match(await getVersion(editedHost, tls.caPem, tls), /^refused/);
      await onHost(trustingHost, "rm /etc/docker/certs.d/*/ca.crt");
      await onHost(registryHost, "systemctl stop docker-registry.service");
      await onHost(registryHost, "docker service rm counter_web");

      const refresh = await stack.refresh();
      const drifted = driftedResources(await stack.exportStack());
      const summary = drifted.map((resource) => `${resource.name}: ${resource.drift.join("; ")}`);
      console.log(`refresh found:\n  ${summary.join("\n  ")}`);
      const expect = (pattern: RegExp) =>
        assert.ok(
          summary.some((line) => pattern.test(line)),
          `no drift matches ${pattern}:\n${summary.join("\n")}`,
        );
      expect(
        new RegExp(
          `${editedHost.name}.*daemon\\.json: \\w+ 644 → \\w+ 644; listening: \\S+:2376 → \\(none\\)$`,
        ),
      );
      expect(new RegExp(`trust-${trustingHost.name}: ca:.* 644 → missing missing`));
      expect(/registry: active → inactive/);
      expect(/service:counter_web: \S+ → \(none\)/);
      assert.equal(
        changeCounts(refresh).update,
        drifted.length,
        JSON.stringify(changeCounts(refresh)),
      );

      const counts = changeCounts(await stack.up());
      assert.equal(
        counts.update,
        drifted.length,
        `the drifted steps run again: ${JSON.stringify(counts)}`,
      );
      assertNothingCreatedDeletedOrReplaced(counts);
      assert.equal(await getVersion(editedHost, tls.caPem, tls), "answered 200");
      assert.equal(
        (await onHost(registryHost, "systemctl is-active docker-registry.service")).trim(),
        "active",
      );
      assert.match(await onHost(trustingHost, "ls /etc/docker/certs.d/*/ca.crt"), /ca\.crt/);
      assert.match(
        await onHost(registryHost, "docker service ls --format '{{.Name}}'"),
        /^counter_web$/m,
      );

      const again = await stack.refresh();
      assert.equal(changeCounts(again).update, undefined, JSON.stringify(changeCounts(again)));
      assert.deepEqual(driftedResources(await stack.exportStack()), []);
    });

    it("reloads a mirror change without stopping a container", async () => {
      // What the drift repair restarted may still be settling; the test is about the mirror up.
      const settleStarted = Date.now();
      const before = await settledContainerStarts();
      console.log(`the containers settled in ${(Date.now() - settleStarted) / 1000} s`);
      const since = Math.floor(Date.now() / 1000);
      writeConfig({ registryMirrors: [`http://${UNUSED_MIRROR_ADDRESS}:5000`] });
      const counts = changeCounts(await stack.up());
      assert.equal(counts.update, 3, `one DockerConfig update per host: ${JSON.stringify(counts)}`);
      assertNothingCreatedDeletedOrReplaced(counts);
      const afterUp = await containerStarts();
      if (JSON.stringify(afterUp) !== JSON.stringify(before)) {
        const events = await containerEvents(since);
        assert.deepEqual(
          afterUp,
          before,
          `no container was stopped or started; events:\n${events}`,
        );
      }
      for (const host of hosts) {
        const mirrors = await onHost(
          host,
          "docker info --format '{{json .RegistryConfig.Mirrors}}'",
        );
        assert.match(mirrors, new RegExp(UNUSED_MIRROR_ADDRESS.replaceAll(".", "\\.")), host.name);
      }
    });

    it("rolls a change that needs a restart over the hosts: the counter answers throughout, the managers but for a leader election", async () => {
      const failures: string[] = [];
      const managerPauses: string[] = [];
      let samples = 0;
      let polling = true;
      let managersAnsweredAt = Date.now();
      let longestManagerPauseMs = 0;
      const poll = (async () => {
        while (polling) {
          const startedAt = Date.now();
          const at = new Date(startedAt).toISOString().slice(11, 23);
          const [managers, counters] = await Promise.all([
            Promise.all(hosts.map((host) => getPath(host, tls.caPem, tls, "/nodes"))),
            Promise.all(
              hosts.map((host) => httpGet(host.address, COUNTER_PORT, "/").catch(() => undefined)),
            ),
          ]);
          samples++;
          // Swarm hands no leadership over when the leader's dockerd stops: the others elect a
          // new one after raft's election timeout (10 s), and until then no manager answers.
          if (managers.includes("answered 200")) {
            longestManagerPauseMs = Math.max(longestManagerPauseMs, startedAt - managersAnsweredAt);
            managersAnsweredAt = startedAt;
          } else {
            managerPauses.push(`${at} no manager listed the nodes: ${managers.join(", ")}`);
          }
          if (!counters.some((answer) => answer?.status === 200))
            failures.push(`${at} the counter answered nowhere`);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      })();
      const restartsBefore = await dockerRestarts();
      writeConfig({ logMaxSize: "20m" });
      let counts: Record<string, number>;
      try {
        counts = changeCounts(await stack.up());
      } finally {
        polling = false;
        await poll;
      }
      console.log(
        `${samples} samples while up ran; the managers' longest pause ` +
          `${(longestManagerPauseMs / 1000).toFixed(1)} s; failures:\n  ` +
          [...managerPauses, ...failures].join("\n  "),
      );
      assert.equal(counts.update, 3, JSON.stringify(counts));
      assertNothingCreatedDeletedOrReplaced(counts);
      const restartsAfter = await dockerRestarts();
      for (const host of hosts) {
        assert.notEqual(
          restartsAfter[host.name],
          restartsBefore[host.name],
          `${host.name}: docker restarted`,
        );
      }
      // One at a time: each host's dockerd started after the previous one had been running.
      const starts = Object.values(restartsAfter).sort();
      assert.equal(new Set(starts).size, 3, starts.join(", "));
      assert.ok(samples >= 5, `${samples} samples`);
      assert.deepEqual(failures, []);
      assert.ok(
        longestManagerPauseMs <= MANAGER_PAUSE_LIMIT_MS,
        `no manager answered for ${longestManagerPauseMs} ms:\n${managerPauses.join("\n")}`,
      );
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
      writeConfig({ apps: false });
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

    it("pulls through a registry mirror after an in-place mirror change", async () => {
      await startRegistryContainer(STACK, `${STACK}-mirror`, MIRROR_ADDRESS);
      const busybox = await saveImage(await ensureBusyboxImage());
      // The registry starts in a moment: the push is retried until it answers.
      await retryUntilPasses(
        "the push to the mirror",
        () => pushBusyboxAsLibraryImage(busybox, `${MIRROR_ADDRESS}:5000`),
        30_000,
        500,
      );
      fs.rmSync(busybox, { force: true });

      writeConfig({ registryMirrors: [`http://${MIRROR_ADDRESS}:5000`] });
      const result = await stack.up();
      const counts = changeCounts(result);
      assert.equal(counts.update, 3, `one DockerConfig update per host: ${JSON.stringify(counts)}`);
      assertNothingCreatedDeletedOrReplaced(counts);
      const host = hosts[1];
      await docker(host, ["pull", "busybox"]);
      const said = await docker(host, [
        "run",
        "--rm",
        "busybox",
        "echo",
        "pulled through the mirror",
      ]);
      assert.equal(said.trim(), "pulled through the mirror");
    });

    it("destroys everything it made", async () => {
      await closeAllSshClients();
      await runDocker(["rm", "--force", `${STACK}-mirror`]);
      await stack.destroy();
      await assertNothingLabelled(STACK);
    });
  });
});

/** When each host's dockerd last started (systemd's ActiveEnterTimestamp), by host name. */
async function dockerRestartsOn(
  hosts: HostOutput[],
  onHost: (host: HostOutput, command: string) => Promise<string>,
): Promise<Record<string, string>> {
  const entries = await Promise.all(
    hosts.map(async (host) => [
      host.name,
      (
        await onHost(host, "systemctl show docker.service -p ActiveEnterTimestampMonotonic --value")
      ).trim(),
    ]),
  );
  return Object.fromEntries(entries);
}

/** The resources whose last refresh found their host differing from what they left there. */
function driftedResources(deployment: unknown): { name: string; drift: string[] }[] {
  const resources = ((deployment as { deployment?: { resources?: unknown[] } }).deployment
    ?.resources ?? []) as { urn: string; outputs?: { drift?: string[] } }[];
  return resources
    .filter((resource) => (resource.outputs?.drift?.length ?? 0) > 0)
    .map((resource) => ({
      name: resource.urn.split("::").pop()!,
      drift: resource.outputs!.drift!,
    }));
}

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
