/**
 * Every remote step's overall time bound (provision/dynamic/step-timeouts.ts): the error names
 * the host, the step and what it was waiting for; each command gets the time left as its timeout
 * (the SSH layer kills its process group), and no command starts once the time is up.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { runRemoteStep, runScript } from "../../provision/dynamic/remote-step";
import {
  DEFAULT_STEP_TIMEOUTS,
  StepTimeoutError,
  renderStepTimeout,
  stepTimeoutMs,
} from "../../provision/dynamic/step-timeouts";
import type { SshClient } from "../../provision/ssh/client";
import { SshCommandTimeoutError } from "../../provision/ssh/errors";
import { useFakeSshClients } from "../../provision/ssh/pool";
import { describeProcessGroup } from "../../provision/ssh/processes";
import type { ExecOptions, ExecResult } from "../../provision/ssh/types";
import { resolveStackConfig } from "../../components/stack/config";

const RUNNING =
  "apt-get -q -y install --no-install-recommends docker.io > /usr/bin/dpkg --status-fd 35 --configure docker.io";

/**
 * A host whose commands behave as the real client's: `hang` matches commands that print a line
 * and then run until their timeout, which ends them with SshCommandTimeoutError; others answer.
 */
function fakeHost(hang: RegExp) {
  const timeouts: (number | undefined)[] = [];
  const client: SshClient = {
    target: "root@10.0.0.1:22",
    hostKey: "ssh-ed25519 AAAA",
    closed: new Promise<void>(() => undefined),
    isConnected: true,
    async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
      timeouts.push(opts.timeoutMs);
      if (!hang.test(command)) return { stdout: "ok\n", stderr: "", code: 0, signal: null };
      opts.onStderr?.("install-docker: running: apt-get install --no-install-recommends docker.io");
      opts.onStderr?.("Setting up docker.io (20.10.24+dfsg1-1+b3) ...");
      await sleep(opts.timeoutMs ?? 60_000);
      // What bash prints of a command the timeout's SIGTERM ended: not what it was doing.
      opts.onStderr?.("Terminated");
      const details = { command, envNames: [], stdout: "", stderr: "" };
      throw new SshCommandTimeoutError(this.target, details, opts.timeoutMs ?? 0, RUNNING);
    },
    async execOrThrow(command: string, opts?: ExecOptions) {
      return this.exec(command, opts);
    },
    putContent: async () => undefined,
    getContent: async () => undefined,
    close: async () => undefined,
  };
  const restore = useFakeSshClients({ "10.0.0.1:22": client });
  return { timeouts, restore };
}

const target = (stepTimeouts: Record<string, number>) => ({
  host: "host-2",
  logUrn: "",
  connection: { host: "10.0.0.1", port: 22, privateKey: "fake", stepTimeouts },
});

describe("step time bounds", () => {
  it("a step past its bound fails naming the host, the step, what it waited for and its last line", async () => {
    const host = fakeHost(/^bash -s$/);
    try {
      await assert.rejects(
        runRemoteStep(
          target({ install: 0.2 }),
          "install docker",
          (client, log) => runScript(client, "echo", {}, log),
          { kind: "install" },
        ),
        (error: unknown) => {
          assert.ok(error instanceof StepTimeoutError);
          assert.equal(
            error.message,
            `host-2: step "install docker" did not finish within 0 s; it was waiting for: ${RUNNING} ` +
              "(last output line: Setting up docker.io (20.10.24+dfsg1-1+b3) ...)\n" +
              "A command it was running on the host was stopped (SIGTERM, then SIGKILL); the step " +
              "is safe to run again. If it needs longer, raise dockfleet:stepTimeouts.install.",
          );
          assert.ok(error.cause instanceof SshCommandTimeoutError);
          return true;
        },
      );
      // The command was given the time left of the step as its timeout (the real client kills
      // its process group when that passes).
      assert.equal(host.timeouts.length, 1);
      assert.ok(host.timeouts[0]! > 0 && host.timeouts[0]! <= 200, String(host.timeouts[0]));
    } finally {
      host.restore();
    }
  });

  it("a command's own shorter timeout is the command's failure, not the step's", async () => {
    const host = fakeHost(/^sleep/);
    try {
      await assert.rejects(
        runRemoteStep(target({ configure: 60 }), "configure docker", (client) =>
          client.execOrThrow("sleep 100", { timeoutMs: 20 }),
        ),
        (error: Error) => {
          assert.ok(!(error instanceof StepTimeoutError));
          assert.match(error.message, /^host-2: step "configure docker" failed after/);
          assert.match(error.message, /command timed out on root@10\.0\.0\.1:22/);
          return true;
        },
      );
      assert.deepEqual(host.timeouts, [20]);
    } finally {
      host.restore();
    }
  });

  it("once the time is up no command starts; the error names the last command waited on", async () => {
    const host = fakeHost(/^never$/);
    try {
      let ran = 0;
      await assert.rejects(
        runRemoteStep(target({ configure: 0.1 }), "join swarm", async (client) => {
          for (;;) {
            await client.exec("docker node ls --format '{{.Status}}'");
            ran++;
            await sleep(40);
          }
        }),
        (error: Error) => {
          assert.ok(error instanceof StepTimeoutError);
          assert.match(
            error.message,
            /^host-2: step "join swarm" did not finish within 0 s; it was waiting for: command "docker node ls --format '\{\{.Status\}\}'"\n/,
          );
          return true;
        },
      );
      assert.ok(ran >= 2 && ran <= 4, `ran ${ran} times`);
    } finally {
      host.restore();
    }
  });

  it("bounds: install steps get longer than configure steps; a step's own wait is added", () => {
    assert.ok(DEFAULT_STEP_TIMEOUTS.install > DEFAULT_STEP_TIMEOUTS.configure);
    assert.equal(stepTimeoutMs(undefined, "install"), DEFAULT_STEP_TIMEOUTS.install * 1000);
    assert.equal(stepTimeoutMs({ configure: 30 }, "configure", 5_000), 35_000);
    // State written before the key existed has no bounds: the defaults apply.
    assert.equal(stepTimeoutMs({ configure: 30 }, "install"), DEFAULT_STEP_TIMEOUTS.install * 1000);
  });

  it("the message says where nothing ran yet, and how to give more time", () => {
    assert.equal(
      renderStepTimeout("host-1", "check host", "configure", 300_000, {}),
      'host-1: step "check host" did not finish within 300 s; it was waiting for: nothing in ' +
        "particular (between commands)\nA command it was running on the host was stopped " +
        "(SIGTERM, then SIGKILL); the step is safe to run again. If it needs longer, raise " +
        "dockfleet:stepTimeouts.configure.",
    );
  });
});

describe("what a timed-out command was running", () => {
  // sshd's login shell (1000) runs `bash -s` (1001); package_manager's pipeline runs apt-get in
  // a subshell (1002) beside tee (1003); apt-get runs dpkg, dpkg the maintainer script.
  const PS = [
    "    1     0     1 9000 /sbin/init",
    " 1000   900  1000   40 bash -c printf 'dockfleet-process-group:%s\\n' \"$$\" >&2 export X=1 bash -s",
    " 1001  1000  1000   40 bash -s",
    " 1002  1001  1000   30 bash -s",
    " 1003  1001  1000   29 tee /tmp/tmp.abc",
    " 1004  1002  1000   30 apt-get -q -y install docker.io",
    // apt starts dpkg in a session of its own when it uses a pty: still what the step waits for.
    " 1005  1004  1005    5 /usr/bin/dpkg --status-fd 35 --configure docker.io",
    " 1006  1005  1005    1 /bin/sh /var/lib/dpkg/info/docker.io.postinst configure",
    " 1007  1006  1005    1 systemctl start docker",
    " 2000  1999  2000    1 sleep 100",
  ].join("\n");

  it("follows the deepest branch from the login shell, shells left out", () => {
    assert.equal(
      describeProcessGroup(PS, 1000),
      "apt-get -q -y install docker.io > /usr/bin/dpkg --status-fd 35 --configure docker.io > " +
        "/bin/sh /var/lib/dpkg/info/docker.io.postinst configure > systemctl start docker",
    );
  });

  it("on a tie, takes a pipeline's first command, not the tee it feeds", () => {
    const downloading = [
      " 1000   900  1000   40 bash -c x",
      " 1001  1000  1000   40 bash -s",
      " 1004  1001  1000    3 apt-get -q -y install docker.io",
      " 1005  1001  1000    3 tee /tmp/tmp.abc",
    ].join("\n");
    assert.equal(describeProcessGroup(downloading, 1000), "apt-get -q -y install docker.io");
  });

  it("is unknown when only shells run or the group is gone", () => {
    assert.equal(
      describeProcessGroup(" 1000 900 1000 3 bash -c x\n 1001 1000 1000 3 bash -s", 1000),
      undefined,
    );
    assert.equal(describeProcessGroup(PS, 4242), undefined);
    assert.equal(describeProcessGroup("ps: unknown option", 1000), undefined);
  });
});

describe("dockfleet:stepTimeouts", () => {
  it("defaults to the built-in bounds, and takes seconds per kind", () => {
    assert.deepEqual(resolveStackConfig({}).stepTimeouts, DEFAULT_STEP_TIMEOUTS);
    assert.deepEqual(
      resolveStackConfig({ "dockfleet:stepTimeouts": '{"install": 1800}' }).stepTimeouts,
      { install: 1800, configure: DEFAULT_STEP_TIMEOUTS.configure },
    );
  });
});
