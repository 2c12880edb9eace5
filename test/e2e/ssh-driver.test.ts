import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { type Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { readScript } from "../../provision/dynamic/remote-step";
import { generateSshKeyPair } from "../../provision/ssh/keys";
import {
  docker,
  dockerApiAnswer,
  dockerExec,
  removeByLabel,
  startExistingHost,
  waitFor,
} from "../helpers/docker";
import { addLoginUser, installSudo } from "../helpers/login-users";
import {
  assertNothingChanged,
  assertNothingCreatedDeletedOrReplaced,
  changeCounts,
  openStack,
  removeStackCompletely,
  writeStackConfig,
} from "../helpers/stack";

/**
 * The ssh driver against a host that exists before dockfleet (made here by hand, the way an
 * operator's server would be): its host key is pinned on first contact, Docker is installed and
 * its API protected with TLS, what was on the host survives, and `destroy` undoes dockfleet's
 * configuration without touching the host itself. The host already runs Docker with a daemon.json
 * of the operator's: a key that clashes with dockfleet's is refused before anything changes, the
 * others are kept, and `destroy` puts the operator's file back. The stack names the host by a DNS
 * name (resolved through this machine's /etc/hosts), as an operator's server usually is: the
 * Docker API's certificate carries it as a DNS SAN.
 */

const STACK = `e2essh${process.pid}`;

const EXISTING = "existing-1";
const ADDRESS = "172.30.22.10";
/** The host's DNS name, unique to this run: what the stack gives as its address. */
const HOST_NAME = `${EXISTING}.${STACK}.test`;
const HOSTS_LINE = `${ADDRESS} ${HOST_NAME}`;
const DATA_ROOT = "/var/lib/docker/operator-root";
/** The operator's own daemon.json once the clashing registry-mirrors key is taken out. */
const OPERATOR_DAEMON_JSON = `{"data-root": "${DATA_ROOT}", "default-address-pools": [{"base": "10.123.0.0/16", "size": 24}]}\n`;

describe("ssh driver, end to end", { timeout: 15 * 60_000 }, () => {
  const names = localResourceNames(STACK, EXISTING);
  const key = generateSshKeyPair("e2e-ssh-driver");
  let stack: Stack;

  before(async () => {
    // The name must resolve where dockfleet and the test connect from: this machine. dockfleet
    // never resolves it on the host itself.
    fs.appendFileSync("/etc/hosts", `${HOSTS_LINE}\n`);
    await startExistingHost({
      stack: STACK,
      name: EXISTING,
      subnet: "172.30.22.0/24",
      ipv4Address: ADDRESS,
      authorizedKey: key.publicKey,
    });
    await dockerExec(names.container, "echo precious > /root/operator-data");
    // The operator's Docker, from the distribution, with a daemon.json of their own.
    await dockerExec(names.container, "env DOCKER_SOURCE=distro bash -s", {
      input: readScript(`${__dirname}/../../components/engine`, "install-docker.sh"),
    });
    await dockerExec(
      names.container,
      "cat > /etc/docker/daemon.json && systemctl restart docker && docker info >/dev/null",
      {
        input: OPERATOR_DAEMON_JSON.replace(
          /\}\n$/,
          ', "registry-mirrors": ["https://mirror.example.com"]}\n',
        ),
      },
    );
    writeStackConfig(STACK, { driver: "ssh", sshHosts: [{ name: EXISTING, address: HOST_NAME }] });
    stack = await openStack(STACK);
    await stack.setConfig("dockfleet:sshPrivateKey", { value: key.privateKey, secret: true });
  });

  after(async () => {
    try {
      await removeStackCompletely(stack, STACK);
      // Again, not caught this time: a failure to clean up the hand-made host fails the run.
      await removeByLabel(STACK);
    } finally {
      const lines = fs.readFileSync("/etc/hosts", "utf8").split("\n");
      fs.writeFileSync("/etc/hosts", lines.filter((line) => line !== HOSTS_LINE).join("\n"));
    }
  });

  it("refuses the operator's daemon.json where it clashes with dockfleet's, before changing it", async () => {
    const before = await dockerExec(names.container, "cat /etc/docker/daemon.json");
    await assert.rejects(
      stack.up(),
      /\/etc\/docker\/daemon\.json on existing-1 sets a key that dockfleet manages to another value:\s+registry-mirrors: the host has \["https:\/\/mirror\.example\.com"\], dockfleet has \(unset\)/,
    );
    assert.equal(await dockerExec(names.container, "cat /etc/docker/daemon.json"), before);
    const left = await dockerExec(
      names.container,
      "ls -A /etc/docker /etc/systemd/system/docker.service.d 2>&1 || true",
    );
    assert.doesNotMatch(left, /dockfleet|tls|\.conf/, "the refusal left files behind");
    // The operator takes the mirror out (or would set engine.registryMirrors to it).
    await dockerExec(
      names.container,
      "cat > /etc/docker/daemon.json && systemctl restart docker && docker info >/dev/null",
      { input: OPERATOR_DAEMON_JSON },
    );
  });

  it("pins the host key, installs Docker and serves the API over TLS", async () => {
    const result = await stack.up();
    assert.equal(result.summary.result, "succeeded");
    const [host] = result.outputs.hosts.value as {
      name: string;
      dockerHost: string;
      driver: string;
    }[];
    assert.equal(host.driver, "ssh");
    assert.equal(host.dockerHost, `tcp://${HOST_NAME}:2376`);
    // By name, with verification on: the server certificate carries the name as a DNS SAN.
    const tls = result.outputs.dockerTls.value as {
      caPem: string;
      certPem: string;
      keyPem: string;
    };
    assert.equal(await dockerApiAnswer(host.dockerHost, tls), "answered 200");
    const serverCert = new X509Certificate(
      await dockerExec(names.container, "cat /etc/docker/tls/cert.pem"),
    );
    assert.equal(serverCert.checkHost(HOST_NAME), HOST_NAME);
    // The stack gave only the name: the address it resolves to is no SAN of dockfleet's making.
    assert.equal(serverCert.checkIP(ADDRESS), undefined);
    const state = JSON.stringify(await stack.exportStack());
    const hostKey = (await dockerExec(names.container, "cat /etc/ssh/ssh_host_ed25519_key.pub"))
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
    assert.ok(state.includes(hostKey), "the host key seen on first contact is pinned in the state");
    const active = await dockerExec(names.container, "systemctl is-active docker || true");
    assert.equal(active.trim(), "active");
    const listening = await dockerExec(names.container, "ss -ltn | grep -c ':2376 ' || true");
    assert.equal(listening.trim(), "1");
    assert.equal((await dockerExec(names.container, "cat /root/operator-data")).trim(), "precious");
    // The operator's keys are kept next to dockfleet's, and dockerd runs with both.
    const rootDir = await dockerExec(names.container, "docker info --format '{{.DockerRootDir}}'");
    assert.equal(rootDir.trim(), DATA_ROOT);
    const daemonJson = JSON.parse(
      await dockerExec(names.container, "cat /etc/docker/daemon.json"),
    ) as Record<string, unknown>;
    assert.equal(daemonJson.tlsverify, true);
    assert.deepEqual(daemonJson["default-address-pools"], [{ base: "10.123.0.0/16", size: 24 }]);
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await stack.up());
  });

  it("moving the host's SSH port is an update in place: nothing is undone, the API still answers", async () => {
    // The operator's sshd now answers on 22 and 2222, and the stack moves the host to 2222.
    await dockerExec(
      names.container,
      "printf 'Port 22\\nPort 2222\\n' > /etc/ssh/sshd_config.d/20-ports.conf && systemctl restart ssh",
    );
    await waitFor(
      "sshd on port 2222",
      () => dockerExec(names.container, "ss -ltn | grep ':2222 '"),
      30_000,
    );
    writeStackConfig(STACK, {
      driver: "ssh",
      sshHosts: [{ name: EXISTING, address: HOST_NAME, port: 2222 }],
    });
    await stack.setConfig("dockfleet:sshPrivateKey", { value: key.privateKey, secret: true });

    const result = await stack.up();
    assert.equal(result.summary.result, "succeeded");
    const counts = changeCounts(result);
    assertNothingCreatedDeletedOrReplaced(counts);
    assert.ok((counts.update ?? 0) > 0, `the new port is stored: ${JSON.stringify(counts)}`);
    const [host] = result.outputs.hosts.value as { sshPort: number; dockerHost: string }[];
    assert.equal(host.sshPort, 2222);
    // daemon.json, the drop-in and the TLS files are where they were: the API answers a client
    // holding the environment's certificate.
    const files = await dockerExec(
      names.container,
      "ls /etc/docker/daemon.json /etc/systemd/system/docker.service.d/dockfleet.conf",
    );
    assert.equal(files.trim().split("\n").length, 2);
    const tls = result.outputs.dockerTls.value as {
      caPem: string;
      certPem: string;
      keyPem: string;
    };
    assert.equal(await dockerApiAnswer(host.dockerHost, tls), "answered 200");
    assertNothingChanged(await stack.up());
  });

  it("destroy removes dockfleet's configuration and leaves the host and its data", async () => {
    await stack.destroy();
    const running = await docker(["inspect", "--format", "{{.State.Running}}", names.container]);
    assert.equal(running.trim(), "true");
    assert.equal((await dockerExec(names.container, "cat /root/operator-data")).trim(), "precious");
    const listening = await dockerExec(names.container, "ss -ltn | grep -c ':2376 ' || true");
    assert.equal(listening.trim(), "0", "the TLS API is gone with dockfleet's daemon.json");
    const dockerState = await dockerExec(names.container, "systemctl is-active docker || true");
    assert.equal(dockerState.trim(), "active", "Docker itself stays (removeOnDestroy is off)");
    const daemonJson = await dockerExec(names.container, "cat /etc/docker/daemon.json");
    assert.equal(daemonJson, OPERATOR_DAEMON_JSON, "the operator's daemon.json is back");
    const rootDir = await dockerExec(names.container, "docker info --format '{{.DockerRootDir}}'");
    assert.equal(rootDir.trim(), DATA_ROOT);
  });
});

const SUDO_STACK = `e2esshsudo${process.pid}`;
const SUDO_HOST = "sudo-host-1";
const SUDO_ADDRESS = "172.30.23.10";

/**
 * The ssh driver logging in as a user other than root: one without sudo is refused at first
 * contact, naming the fix, before anything on the host changes; one with passwordless sudo gets
 * Docker installed and configured as root through it, and destroy undoes it the same way.
 */
describe("ssh driver through a sudo-only login user, end to end", { timeout: 15 * 60_000 }, () => {
  const names = localResourceNames(SUDO_STACK, SUDO_HOST);
  const key = generateSshKeyPair("e2e-ssh-sudo");
  let stack: Stack;

  const useLoginUser = async (user: string) => {
    writeStackConfig(SUDO_STACK, {
      driver: "ssh",
      sshHosts: [{ name: SUDO_HOST, address: SUDO_ADDRESS, user }],
    });
    await stack.setConfig("dockfleet:sshPrivateKey", { value: key.privateKey, secret: true });
  };

  before(async () => {
    await startExistingHost({
      stack: SUDO_STACK,
      name: SUDO_HOST,
      subnet: "172.30.23.0/24",
      ipv4Address: SUDO_ADDRESS,
    });
    await installSudo(names.container);
    await addLoginUser(names.container, "deploy", key.publicKey, { passwordlessSudo: true });
    await addLoginUser(names.container, "nosudo", key.publicKey, { passwordlessSudo: false });
    writeStackConfig(SUDO_STACK, {});
    stack = await openStack(SUDO_STACK);
  });

  after(async () => {
    await removeStackCompletely(stack, SUDO_STACK);
    await removeByLabel(SUDO_STACK);
  });

  it("refuses a login user without passwordless sudo at first contact, changing nothing", async () => {
    await useLoginUser("nosudo");
    await assert.rejects(
      stack.up(),
      new RegExp(
        `${SUDO_HOST}: step "check host" failed .*\\s+nosudo cannot run commands as root on ` +
          `nosudo@${SUDO_ADDRESS.replace(/\./g, "\\.")}:22[^]*sudo: a password is required[^]*` +
          'give nosudo passwordless sudo .*"nosudo ALL=\\(ALL\\) NOPASSWD:ALL" in /etc/sudoers\\.d/nosudo',
      ),
    );
    const configured = await dockerExec(
      names.container,
      "test -e /etc/docker && echo yes || echo no",
    );
    assert.equal(configured.trim(), "no", "the refusal changed the host");
  });

  it("installs and configures Docker as root through sudo, a second up changing nothing", async () => {
    await useLoginUser("deploy");
    const result = await stack.up();
    assert.equal(result.summary.result, "succeeded");
    const active = await dockerExec(names.container, "systemctl is-active docker || true");
    assert.equal(active.trim(), "active");
    const [host] = result.outputs.hosts.value as { dockerHost: string }[];
    const tls = result.outputs.dockerTls.value as {
      caPem: string;
      certPem: string;
      keyPem: string;
    };
    assert.equal(await dockerApiAnswer(host.dockerHost, tls), "answered 200");
    // Written by root through sudo: root's files, the key readable by root alone.
    const modes = await dockerExec(
      names.container,
      "stat -c '%n %a %U' /etc/docker/daemon.json /etc/docker/tls/key.pem",
    );
    assert.deepEqual(modes.trim().split("\n"), [
      "/etc/docker/daemon.json 644 root",
      "/etc/docker/tls/key.pem 600 root",
    ]);
    const deploysOwn = await dockerExec(names.container, "find /etc -user deploy");
    assert.equal(deploysOwn.trim(), "", "nothing of dockfleet's belongs to the login user");
    assertNothingChanged(await stack.up());
  });

  it("destroy undoes the configuration through sudo", async () => {
    await stack.destroy();
    const listening = await dockerExec(names.container, "ss -ltn | grep -c ':2376 ' || true");
    assert.equal(listening.trim(), "0", "the TLS API is gone with dockfleet's daemon.json");
  });
});
