import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { ArgvWatcher, linesWithSecrets } from "../helpers/argv-watcher";
import { dockerExec, runCommand, waitFor } from "../helpers/docker";
import {
  assertNothingChanged,
  openStack,
  readBackendFiles,
  removeStackCompletely,
  writeStackConfig,
} from "../helpers/stack";

/**
 * Behind an HTTP proxy (dockfleet:proxy) on a network with no route out: the local hosts sit on
 * an internal Docker network (local.internal), and a forward proxy from Debian's packages
 * (tinyproxy, with a password) on this machine is their only way to the package mirror. `up`
 * installs Docker through it, dockerd reads the proxy from a 0600 file, the environment's own
 * addresses bypass it, and the proxy's password shows in no process's command line, no output
 * and no plain state. Dropping the proxy removes dockerd's file.
 */

const STACK = `proxy${process.pid}`;
const SUBNET = "172.30.97.0/24";
const HOST_ADDRESS = "172.30.97.10";
/** This machine's side of the stack network. */
const GATEWAY = "172.30.97.1";
const PROXY_PORT = 18897;
const PASSWORD = `pw${process.pid}x${Date.now().toString(36)}`;
const PROXY_URL = `http://fleet:${PASSWORD}@${GATEWAY}:${PROXY_PORT}`;
const container = localResourceNames(STACK, "host-1").container;
const CONFIG = { hosts: 1, local: { subnet: SUBNET, internal: true } };

describe("behind an HTTP proxy, with no other way out", { timeout: 20 * 60_000 }, () => {
  let stack: Stack | undefined;
  let tinyproxy: ChildProcess | undefined;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-proxy-"));
  const proxyLog = path.join(work, "tinyproxy.log");
  const watcher = new ArgvWatcher([container]);
  let said = "";

  before(async () => {
    fs.writeFileSync(
      path.join(work, "tinyproxy.conf"),
      [
        `Port ${PROXY_PORT}`,
        "Timeout 600",
        `LogFile "${proxyLog}"`,
        "LogLevel Connect",
        `PidFile "${path.join(work, "tinyproxy.pid")}"`,
        "MaxClients 50",
        `Allow ${SUBNET}`,
        `BasicAuth fleet ${PASSWORD}`,
        "DisableViaHeader Yes",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    tinyproxy = spawn("tinyproxy", ["-d", "-c", path.join(work, "tinyproxy.conf")], {
      stdio: "ignore",
    });
    await waitFor(
      "tinyproxy to listen",
      async () =>
        (await runCommand("ss", ["-Hltn", `sport = :${PROXY_PORT}`])).stdout ? true : undefined,
      10_000,
    );
    writeStackConfig(STACK, CONFIG);
    stack = await openStack(STACK);
    // As an operator would: the URL holds a password.
    await stack.setConfig("dockfleet:proxy.http", { value: PROXY_URL, secret: true }, true);
  });

  after(async () => {
    await watcher.stop().catch(() => undefined);
    await removeStackCompletely(stack, STACK);
    tinyproxy?.kill();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("installs Docker on a host with no route out, through the proxy alone", async (t) => {
    watcher.start();
    const result = await stack!.up({ onOutput: (line) => (said += line) });
    assert.equal(result.summary.result, "succeeded");
    // The host cannot reach the mirror itself...
    const direct = await dockerExec(
      container,
      "curl -sS -m 5 -o /dev/null http://deb.debian.org/debian/ 2>&1 || true",
    );
    assert.match(direct, /Could not resolve|Failed to connect|timed out|Couldn't connect/);
    // ...so its packages came through the proxy, which logged the host's requests.
    const log = fs.readFileSync(proxyLog, "utf8");
    assert.match(
      log,
      new RegExp(`Connect \\(file descriptor \\d+\\): ${HOST_ADDRESS.replace(/\./g, "\\.")}`),
    );
    assert.match(log, /Request \(file descriptor \d+\): GET http:\/\/deb\.debian\.org\//);
    const installed = await dockerExec(container, "dpkg-query -W -f='${Status}' docker.io");
    assert.equal(installed, "install ok installed");
    // apt's per-package lines showed as a counter, up to its end.
    for (const line of said.split("\n").filter((text) => / (download|packages) \d+%/.test(text))) {
      t.diagnostic(line.trim());
    }
    assert.match(said, /host-1: install docker: download \d+% of [\d.]+ [kMG]?B \(/);
    assert.match(said, /host-1: install docker: packages \d+% \((unpacking|setting up) /);
    assert.match(said, /host-1: install docker: packages 100% \(setting up [\w.:-]+\)/);
    assert.doesNotMatch(said, /host-1: install docker: Unpacking /);
  });

  it("gives dockerd the proxy from a 0600 file, with the environment's addresses direct", async () => {
    const info = await dockerExec(
      container,
      "docker info --format '{{.HTTPProxy}}|{{.HTTPSProxy}}|{{.NoProxy}}'",
    );
    const [http, https, noProxy] = info.trim().split("|");
    // docker info masks the credentials; the address shows that dockerd has the setting.
    for (const value of [http, https]) {
      assert.ok(value.endsWith(`@${GATEWAY}:${PROXY_PORT}`), info);
      assert.ok(!value.includes(PASSWORD), "docker info shows the password");
    }
    assert.deepEqual(noProxy.split(",").slice(0, 4), [
      "localhost",
      "127.0.0.1",
      "::1",
      HOST_ADDRESS,
    ]);
    const file = await dockerExec(
      container,
      "stat -c '%a %U' /etc/docker/dockfleet-proxy.env; systemctl show docker -p Environment",
    );
    assert.match(file, /^600 root\n/);
    assert.ok(!file.includes(PASSWORD), "systemctl show docker tells the password to any user");
  });

  it("shows the password in no command line, output or plain state", async () => {
    const seen = await watcher.stop();
    const lines = [...seen.local, ...[...seen.hosts.values()].flatMap((host) => [...host])];
    assert.ok(seen.hosts.size === 1, "the host was watched");
    assert.deepEqual(linesWithSecrets(lines, [PASSWORD]), []);
    assert.ok(!said.includes(PASSWORD), "pulumi up printed the password");
    assert.ok(
      !readBackendFiles().includes(PASSWORD),
      "the password is in plain text in the backend",
    );
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await stack!.up());
  });

  it("drops the proxy: dockerd's file goes with it", async () => {
    await stack!.removeConfig("dockfleet:proxy");
    let output = "";
    const result = await stack!.up({ onOutput: (line) => (output += line) });
    assert.equal(result.summary.result, "succeeded");
    const left = await dockerExec(
      container,
      "ls /etc/docker/dockfleet-proxy.env 2>&1 || true; docker info --format '{{.HTTPProxy}}'",
    );
    assert.match(left, /No such file or directory\n\n?$/, output);
  });
});
