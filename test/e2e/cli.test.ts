import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Stack } from "@pulumi/pulumi/automation";
import { requireHostImage } from "../helpers/docker";
import { ROOT, openStack, removeStackCompletely, writeStackConfig } from "../helpers/stack";

/**
 * The dockfleet CLI against a real local stack of two hosts (Automation API + the real Pulumi CLI,
 * as bin/up): `ls` sees both engines answer over TLS, `env` points the real Docker CLI at a host,
 * `context` makes a docker context, `ssh` and `ssh-config` log in with the system OpenSSH client
 * and strict host key checking, and unknown names fail with a clear message.
 */

const STACK = `cli${process.pid}`;
const SUBNET = "172.30.80.0/24";
const DOCKFLEET = path.join(ROOT, "bin", "dockfleet");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("dockfleet CLI on a local stack", { timeout: 20 * 60_000 }, () => {
  let stack: Stack;
  let upOutput = "";
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-cli-home-"));
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

  before(async () => {
    requireHostImage();
    writeStackConfig(STACK, { hosts: 2, local: { subnet: SUBNET } });
    stack = await openStack(STACK);
    const result = await stack.up({ onOutput: (line) => (upOutput += line) });
    assert.equal(result.summary.result, "succeeded");
  });

  after(async () => {
    await removeStackCompletely(stack, STACK);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("shows each remote step's progress and duration in the `pulumi up` output", (t) => {
    for (const line of upOutput.split("\n").filter((text) => / done in /.test(text))) {
      t.diagnostic(line.trim());
    }
    for (const host of ["host-1", "host-2"]) {
      assert.match(upOutput, new RegExp(`${host}: install docker: done in \\d+(\\.\\d)? s`));
      assert.match(upOutput, new RegExp(`${host}: configure docker: done in \\d+(\\.\\d)? s`));
    }
  });

  it("ls lists both hosts as reachable, with the engine's version", async () => {
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
      ],
    );
    assert.match(rows[0].address, /^172\.30\.80\.\d+$/);
    assert.match(rows[0].dockerVersion, /^\d+\.\d+/);
    const table = await dockfleet(`ls -s ${STACK}`);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+DRIVER\s+ADDRESS\s+REACHABLE\s+DOCKER\s+SWARM/);
    assert.match(table.stdout, /\nhost-2\s+local\s+172\.30\.80\.\d+\s+yes\s+\d+\.\d+\S*\s+-/);
  });

  it("env: `eval` then `docker info` reaches the host's engine over TLS", async () => {
    const run = await bash(
      `lines="$(${DOCKFLEET} env host-1)" && eval "$lines" && docker info --format '{{.Name}}' && echo "$DOCKER_HOST $DOCKER_TLS_VERIFY $DOCKER_CERT_PATH"`,
    );
    assert.equal(run.code, 0, run.stderr);
    const [name, variables] = run.stdout.trim().split("\n");
    assert.equal(name, "host-1");
    const [dockerHost, verify, certPath] = variables.split(" ");
    assert.match(dockerHost, /^tcp:\/\/172\.30\.80\.\d+:2376$/);
    assert.equal(verify, "1");
    assert.equal(certPath, path.join(home, "dockfleet", STACK, "host-1"));
    for (const file of ["ca.pem", "cert.pem", "key.pem"]) {
      assert.equal(fs.statSync(path.join(certPath, file)).mode & 0o777, 0o600, file);
    }
    assert.equal(fs.statSync(certPath).mode & 0o777, 0o700);
    const printed = await dockfleet("env host-1");
    assert.match(
      printed.stdout,
      /# Run this command to configure your shell:\n# eval "\$\(dockfleet env -s cli\d+ --shell bash host-1\)"/,
    );
    const unset = await bash(
      `eval "$(${DOCKFLEET} env host-1)"; eval "$(${DOCKFLEET} env --unset)"; echo "[\${DOCKER_HOST:-}]"`,
    );
    assert.equal(unset.stdout.trim(), "[]");
  });

  it("context: creates a docker context that reaches the host, and updates it on a second run", async () => {
    const first = await dockfleet("context host-2");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /created docker context dockfleet-cli\d+-host-2/);
    const second = await dockfleet("context host-2");
    assert.match(second.stderr, /updated docker context/);
    const info = await bash(`docker --context dockfleet-${STACK}-host-2 info --format '{{.Name}}'`);
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
      /^Host host-1\n {2}HostName 172\.30\.80\.\d+\n {2}User root\n {2}Port 22\n/,
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
      new RegExp(`no host named "host-9" in stack "${STACK}" \\(hosts: host-1, host-2\\)`),
    );
    const sshHost = await dockfleet("ssh nope true");
    assert.equal(sshHost.code, 1);
    const unknown = await dockfleet("ls -s nosuchstack");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`no stack named "nosuchstack" .*stacks: .*${STACK}`));
  });
});
