import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  localResourceNames,
  renderNetworkCreateArgs,
} from "../../components/machines/local/run-args";
import {
  DOCKER_CLI,
  docker,
  dockerExec,
  ensureEngineAndHostImage,
  importBusyboxImage,
  removeByLabel,
  removeImagesByLabel,
  runCommand,
  runOrThrow,
  startHostContainer,
  waitFor,
} from "../helpers/docker";

/**
 * Boots real host containers from the rendered arguments on the machine's engine and checks what
 * the local driver promises: systemd comes up clean, each host has its own SSH host keys, root
 * logs in with a key and never with a password, and Docker installed inside runs containers.
 */

// Unique per run, so parallel runs and leftovers of a killed run never collide.
const STACK = `it-hc-${process.pid}`;
const HOSTS = ["host-1", "host-2"] as const;
const BUSYBOX_TAG = `dockfleet-test/busybox:${STACK}`;

const SSH_OPTIONS = [
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "LogLevel=ERROR",
  "-o",
  "BatchMode=yes",
  "-o",
  "ConnectTimeout=5",
];

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

describe("local host container", { timeout: 15 * 60_000 }, () => {
  let image = "";
  let workDir = "";
  let privateKeyPath = "";
  const addresses = new Map<string, string>();
  const containers = new Map<string, string>();
  let bootStarted = 0;

  async function sshAsRoot(host: string, extraOptions: string[], command = "true") {
    return runCommand(
      "ssh",
      [...SSH_OPTIONS, ...extraOptions, `root@${addresses.get(host)}`, command],
      { timeoutMs: 30_000 },
    );
  }

  before(async () => {
    image = await ensureEngineAndHostImage();
    await removeByLabel(STACK);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-hc-"));
    privateKeyPath = path.join(workDir, "id_ed25519");
    await runOrThrow("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", privateKeyPath]);

    // Another stack (or another engineer's test) may hold a subnet: try a few /24s.
    let subnetBase = "";
    for (let attempt = 0; attempt < 8 && subnetBase === ""; attempt++) {
      const candidate = `172.29.${(process.pid + attempt * 37) % 256}`;
      try {
        await docker(renderNetworkCreateArgs({ stack: STACK, subnet: `${candidate}.0/24` }));
        subnetBase = candidate;
      } catch (error) {
        if (!/overlap|in use/i.test((error as Error).message)) throw error;
      }
    }
    assert.notEqual(subnetBase, "", "no free 172.29.N.0/24 subnet for the test network");
    HOSTS.forEach((host, index) => addresses.set(host, `${subnetBase}.${11 + index}`));
  });

  after(async () => {
    await removeByLabel(STACK);
    await removeImagesByLabel(STACK);
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("boots systemd to 'running' and sshd in each host", async () => {
    bootStarted = Date.now();
    for (const host of HOSTS) {
      const names = localResourceNames(STACK, host);
      containers.set(host, names.container);
      await startHostContainer({
        stack: STACK,
        name: host,
        image,
        ipv4Address: addresses.get(host) ?? "",
      });
    }
    for (const host of HOSTS) {
      const container = containers.get(host) ?? "";
      // --wait returns once boot is over: "running", or "degraded" when a unit failed. Right
      // after `docker run` systemd may not listen yet ("Failed to connect to bus"): ask again.
      const state = await waitFor(
        `systemd in ${host} to finish booting`,
        async () => {
          const result = await runCommand(
            DOCKER_CLI,
            ["exec", container, "systemctl", "is-system-running", "--wait"],
            { timeoutMs: 120_000 },
          );
          const answer = result.stdout.trim();
          return ["running", "degraded", "maintenance", "stopping"].includes(answer)
            ? answer
            : undefined;
        },
        120_000,
      );
      const failed = await dockerExec(
        container,
        "systemctl --failed --no-legend --plain | cut -d' ' -f1",
      );
      assert.equal(
        state,
        "running",
        `${host}: systemd is ${state}; failed units: ${failed.trim()}`,
      );
      const labels = JSON.parse(
        await docker(["volume", "inspect", "--format", "{{json .Labels}}", `${container}-docker`]),
      ) as Record<string, string>;
      assert.equal(labels["dockfleet.io/stack"], STACK);
      assert.equal(labels["dockfleet.io/host"], host);
    }
    console.log(
      `boot: systemd running in ${HOSTS.length} hosts after ${seconds(Date.now() - bootStarted)}`,
    );
  });

  it("gives every host its own SSH host key (ed25519 only, the one pinned) and machine-id", async () => {
    const read = (host: string) =>
      dockerExec(
        containers.get(host) ?? "",
        "ls /etc/ssh/ | grep '^ssh_host_'; cat /etc/ssh/ssh_host_ed25519_key.pub /etc/machine-id",
      );
    const [first, second] = await Promise.all(HOSTS.map(read));
    const firstLines = (first ?? "").trim().split("\n");
    const secondLines = (second ?? "").trim().split("\n");
    assert.deepEqual(
      firstLines.slice(0, 2),
      ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"],
      `expected the ed25519 key pair alone, got:\n${first}`,
    );
    assert.equal(firstLines.length, 4, `expected the key files, a key and a machine-id:\n${first}`);
    firstLines.slice(2).forEach((line, index) => {
      assert.match(line, /^(ssh-ed25519 |[0-9a-f]{32}$)/);
      assert.notEqual(line, secondLines[index + 2], `hosts share ${line}`);
    });
  });

  it("lets root in over SSH with an authorized key, and never with a password", async () => {
    const publicKey = fs.readFileSync(`${privateKeyPath}.pub`, "utf8");
    for (const host of HOSTS) {
      await dockerExec(
        containers.get(host) ?? "",
        "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
        { input: publicKey },
      );
      await waitFor(
        `ssh root@${addresses.get(host)} (${host})`,
        async () => {
          const result = await sshAsRoot(host, ["-i", privateKeyPath], "hostname");
          if (result.code !== 0) throw new Error(result.stderr.trim());
          assert.equal(result.stdout.trim(), host);
          return true;
        },
        60_000,
      );

      const passwordTry = await sshAsRoot(host, [
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
      ]);
      assert.notEqual(passwordTry.code, 0, `${host} accepted a login without a key`);
      // The server offers publickey only: password and keyboard-interactive are off.
      assert.match(passwordTry.stderr, /Permission denied \(publickey\)/);
    }
    console.log(
      `ssh: key login works in every host ${seconds(Date.now() - bootStarted)} after docker run`,
    );
  });

  it("runs Docker inside a host (apt-get install docker.io, docker load, docker run)", async () => {
    const container = containers.get("host-1") ?? "";
    const started = Date.now();
    // The image's apt lists may be stale by now: fall back to a fresh update, as provisioning does.
    const aptPath = await dockerExec(
      container,
      "export DEBIAN_FRONTEND=noninteractive; " +
        "if apt-get install -y -qq --no-install-recommends docker.io >/tmp/apt.log 2>&1; " +
        "then echo 'baked lists'; else apt-get update -qq && " +
        "apt-get install -y -qq --no-install-recommends docker.io >/tmp/apt.log && echo 'after apt-get update'; fi",
      { timeoutMs: 10 * 60_000 },
    );
    const installed = Date.now() - started;
    await waitFor(
      "dockerd inside host-1",
      async () =>
        (await dockerExec(container, "docker info --format '{{.ServerVersion}}'")).trim() ||
        undefined,
      60_000,
    );
    const driver = (await dockerExec(container, "docker info --format '{{.Driver}}'")).trim();
    assert.equal(
      driver,
      "overlay2",
      "inner dockerd should use overlay2 on the /var/lib/docker volume",
    );

    await importBusyboxImage(BUSYBOX_TAG, STACK);
    const tarPath = path.join(workDir, "busybox.tar");
    await docker(["save", "--output", tarPath, BUSYBOX_TAG]);
    await dockerExec(container, "docker load", { input: fs.readFileSync(tarPath) });
    const said = await dockerExec(
      container,
      `docker run --rm --publish 8080:80 ${BUSYBOX_TAG} echo hello from a nested container`,
    );
    assert.equal(said.trim(), "hello from a nested container");
    console.log(`docker.io: apt-get install inside took ${seconds(installed)} (${aptPath.trim()})`);
  });
});
