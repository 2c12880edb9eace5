import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { assertNothingLabelled, docker, dockerExec, runCommand, waitFor } from "../helpers/docker";
import {
  assertNothingChanged,
  changeCounts,
  type HostOutput,
  openStack,
  removeStackCompletely,
  writeStackConfig,
} from "../helpers/stack";

/**
 * Faults during provisioning, on real local hosts: the SSH connection cut mid-install, the
 * package manager's lock held by another process, a failure injected at each provisioning step,
 * and a host container removed behind dockfleet's back. Each time the `up` after the fault
 * completes and host-1 (the one hit) ends in the same state as host-2 (a clean run beside it).
 * Then, on an environment with an etcd cluster and a swarm of 3 managers: the first manager (an
 * etcd member) and a worker removed behind dockfleet's back rejoin both after `refresh` + `up`,
 * the swarm kept, and `destroy` completes with an etcd member down.
 */

const STACK = `faults${process.pid}`;
const SUBNET = "172.30.70.0/24";
const REJOIN_SUBNET = "172.30.72.0/24";
/** The steps runRemoteStep runs per host in an `up` (DOCKFLEET_FAIL_STEP="host:step"). */
const PROVISIONING_STEPS = ["install docker", "configure docker"];

const container = (host: string) => localResourceNames(STACK, host).container;

/**
 * What a clean run leaves on a host, with the host's own name replaced: packages (name, version,
 * status), daemon.json, the systemd drop-in, TLS file modes, docker's unit state and `docker info`.
 */
async function hostState(host: string): Promise<Record<string, string>> {
  const run = (script: string) => dockerExec(container(host), script);
  const normalize = (text: string) => text.replaceAll(host, "<host>").trim();
  return {
    packages: await run("dpkg-query -W -f='${Package} ${Version} ${Status}\\n' | sort"),
    brokenPackages: await run("dpkg --audit || true"),
    daemonJson: normalize(await run("cat /etc/docker/daemon.json")),
    dropIn: await run("cat /etc/systemd/system/docker.service.d/dockfleet.conf"),
    tlsFiles: await run("cd /etc/docker/tls && stat -c '%n %a %U' ca.pem cert.pem key.pem"),
    staging: await run("ls -d /etc/docker/dockfleet.* 2>/dev/null || echo none"),
    unit: await run("systemctl is-enabled docker.service; systemctl is-active docker.service"),
    dockerInfo: normalize(
      await run(
        "docker info --format '{{.ServerVersion}} {{.Driver}} {{.LoggingDriver}} {{.CgroupDriver}} " +
          "{{json .RegistryConfig.Mirrors}}'",
      ),
    ),
    // Docker lists its labels in no fixed order.
    dockerLabels: normalize(
      await run("docker info --format '{{range .Labels}}{{println .}}{{end}}' | sort"),
    ),
  };
}

async function assertSameAsCleanHost(): Promise<void> {
  const [hit, clean] = await Promise.all([hostState("host-1"), hostState("host-2")]);
  assert.equal(hit.brokenPackages.trim(), "", "dpkg --audit finds half-installed packages");
  assert.match(hit.unit, /^enabled\nactive/);
  assert.deepEqual(hit, clean);
}

/** Polls until `pattern` names a running process in the host (pgrep -f), for up to timeoutMs. */
function waitForProcess(host: string, pattern: string, timeoutMs: number): Promise<true> {
  return waitFor(
    `a process matching "${pattern}" on ${host}`,
    async () => {
      const found = await runCommand("docker", ["exec", container(host), "pgrep", "-f", pattern]);
      return found.code === 0 ? true : undefined;
    },
    timeoutMs,
    200,
  );
}

describe("faults during provisioning", { timeout: 45 * 60_000 }, () => {
  let stack: Stack | undefined;
  let output = "";
  const up = () => stack!.up({ onOutput: (line) => (output += line) });
  /** The provider process inherits the CLI's environment, which the workspace's envVars set. */
  const failStep = (value: string | undefined) => {
    const envVars = (stack!.workspace as LocalWorkspace).envVars;
    if (value === undefined) delete envVars.DOCKFLEET_FAIL_STEP;
    else envVars.DOCKFLEET_FAIL_STEP = value;
  };

  before(async () => {
    writeStackConfig(STACK, { hosts: 2, local: { subnet: SUBNET } });
    stack = await openStack(STACK);
  });

  after(async () => {
    await removeStackCompletely(stack, STACK);
  });

  for (const step of PROVISIONING_STEPS) {
    it(`a failure in "${step}" fails the up naming host and step; the next up repairs it`, async () => {
      await stack!.destroy();
      failStep(`host-1:${step}`);
      try {
        output = "";
        await assert.rejects(up(), (error: Error) => {
          const said = `${error.message}\n${output}`;
          assert.ok(said.includes(`host-1: step "${step}" failed`), said);
          assert.ok(said.includes("injected failure (DOCKFLEET_FAIL_STEP="), said);
          return true;
        });
      } finally {
        failStep(undefined);
      }
      const repaired = await up();
      assert.equal(repaired.summary.result, "succeeded");
      assert.ok((changeCounts(repaired).create ?? 0) >= 1, "the repair created what failed");
      await assertSameAsCleanHost();
    });
  }

  it("the SSH connection cut while dpkg runs: the step retries and the up completes", async () => {
    await stack!.destroy();
    output = "";
    const running = up();
    // dpkg unpacking or configuring docker.io: the worst moment to lose the connection.
    await waitForProcess("host-1", "^/usr/bin/dpkg .*--status-fd", 300_000).catch(
      async (error: Error) => {
        await running.catch(() => undefined);
        throw error;
      },
    );
    const killed = await dockerExec(container("host-1"), "pkill -e -f '^sshd: root' || true");
    assert.match(killed, /killed/, "no sshd session process was running");
    const result = await running;
    assert.equal(result.summary.result, "succeeded");
    assert.match(output, /connection lost \(attempt 1 of 3\); reconnecting to retry/);
    await assertSameAsCleanHost();
  });

  it("the package manager's lock held when the install starts: it waits and completes", async () => {
    await stack!.destroy();
    output = "";
    const running = up();
    // The lock is taken as soon as the container runs, before SSH is even up, for 15 s.
    await waitFor(
      "host-1's container",
      async () =>
        (await docker(["ps", "-q", "--filter", `name=^${container("host-1")}$`])).trim() ||
        undefined,
      300_000,
      200,
    );
    const holder = runCommand(
      "docker",
      [
        "exec",
        container("host-1"),
        "perl",
        "-e",
        // A POSIX write lock, as dpkg takes it (struct flock on x86_64).
        'use Fcntl; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die "open: $!"; ' +
          'my $lock = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); ' +
          'fcntl($f, F_SETLK, $lock) or die "lock: $!"; ' +
          "print time(), qq(\\n); sleep 15; print time(), qq(\\n);",
      ],
      { timeoutMs: 60_000 },
    );
    const held = await holder;
    if (held.code !== 0) {
      await running.catch(() => undefined);
      assert.fail(`the lock holder failed: ${held.stderr}`);
    }
    const [lockedAt, releasedAt] = held.stdout.trim().split("\n").map(Number);
    const result = await running;
    assert.equal(result.summary.result, "succeeded");
    // The install started while the lock was held, and said what it waited for.
    assert.match(output, /waiting for \/var\/lib\/dpkg\/lock-frontend held by perl \(pid \d+\)/);
    // dpkg ran only after the lock was released: no dpkg.log entry falls inside the hold.
    const dpkgTimes = (
      await dockerExec(
        container("host-1"),
        "grep ' startup ' /var/log/dpkg.log | while read -r day time _; do date -d \"$day $time\" +%s; done",
      )
    )
      .trim()
      .split("\n")
      .map(Number)
      .filter((time) => time >= lockedAt);
    assert.ok(dpkgTimes.length > 0, "dpkg never ran after the lock was taken");
    assert.ok(
      dpkgTimes.every((time) => time >= releasedAt),
      `dpkg ran while the lock was held (${lockedAt}-${releasedAt}): ${dpkgTimes.join(" ")}`,
    );
    await assertSameAsCleanHost();
  });

  it("a host container removed behind dockfleet's back: refresh + up recreate it with Docker", async () => {
    const before = await docker(["inspect", "--format", "{{.Id}}", container("host-1")]);
    await docker(["rm", "--force", "--volumes", container("host-1")]);
    await docker(["volume", "rm", localResourceNames(STACK, "host-1").volume]);
    await stack!.refresh();
    const state = await stack!.exportStack();
    const resources = (state.deployment as { resources: { type: string; id?: string }[] })
      .resources;
    assert.ok(
      !resources.some((resource) => resource.id === container("host-1")),
      "refresh kept the removed host in the state",
    );
    output = "";
    const result = await up();
    assert.equal(result.summary.result, "succeeded");
    const after = await docker(["inspect", "--format", "{{.Id}}", container("host-1")]);
    assert.notEqual(after.trim(), before.trim());
    const hosts = result.outputs.hosts.value as HostOutput[];
    assert.equal(hosts.length, 2);
    await assertSameAsCleanHost();
    // A second up finds nothing more to do.
    const again = await up();
    assertNothingChanged(again);
  });
});

describe(
  "a host recreated behind dockfleet's back, with etcd and a swarm",
  { timeout: 30 * 60_000 },
  () => {
    const REJOIN_STACK = `rejoin${process.pid}`;
    const hostContainer = (host: string) => localResourceNames(REJOIN_STACK, host).container;
    let stack: Stack | undefined;
    let addresses: Record<string, string> = {};

    const endpoint = (host: string) => `https://${addresses[host]}:2379`;
    /** etcdctl inside a host with the member's own certificate, by default against its member. */
    const etcdctl = (host: string, args: string, endpoints = [endpoint(host)]) =>
      dockerExec(
        hostContainer(host),
        `ETCDCTL_API=3 etcdctl --endpoints=${endpoints.join(",")} ` +
          "--cacert=/etc/etcd/pki/ca.pem --cert=/etc/etcd/pki/member.pem " +
          `--key=/etc/etcd/pki/member-key.pem --dial-timeout=3s --command-timeout=5s ${args}`,
      );
    /** `member list` as name -> ID, and whether every member has started. */
    const etcdMembers = async (host: string) => {
      const lines = (await etcdctl(host, "member list")).trim().split("\n");
      const fields = lines.map((line) => line.split(", "));
      return {
        ids: Object.fromEntries(fields.map(([id, , name]) => [name, id])),
        allStarted: fields.every(([, status]) => status === "started"),
      };
    };
    /** `docker node ls` on a manager: hostname, ID, status and manager status of each node. */
    const swarmNodes = async (on: string) =>
      (
        await dockerExec(
          hostContainer(on),
          "docker node ls --format '{{.Hostname}} {{.ID}} {{.Status}} {{.ManagerStatus}}'",
        )
      )
        .trim()
        .split("\n")
        .map((line) => line.split(" "))
        .map(([hostname, id, status, manager]) => ({ hostname, id, status, manager }));
    const clusterIdOn = async (host: string) =>
      (
        await dockerExec(hostContainer(host), "docker info --format '{{.Swarm.Cluster.ID}}'")
      ).trim();
    const up = async () => {
      const result = await stack!.up({ onOutput: (line) => process.stdout.write(line) });
      assert.equal(result.summary.result, "succeeded");
      const hosts = result.outputs.hosts.value as HostOutput[];
      addresses = Object.fromEntries(hosts.map((host) => [host.name, host.address]));
      return result;
    };

    before(async () => {
      writeStackConfig(REJOIN_STACK, {
        hosts: 4,
        local: { subnet: REJOIN_SUBNET },
        etcd: { enabled: true, members: 3 },
        swarm: { enabled: true, managers: 3 },
      });
      stack = await openStack(REJOIN_STACK);
      await up();
    });

    after(async () => {
      await removeStackCompletely(stack, REJOIN_STACK);
    });

    it("refresh + up recreate them: the first manager rejoins the swarm it made, the worker too, and etcd", async () => {
      // host-1 made the swarm, manages it and is an etcd member; host-4 is a worker.
      await etcdctl("host-1", "put /dockfleet/before-the-fault written-via-host-1");
      const membersBefore = await etcdMembers("host-2");
      const nodesBefore = await swarmNodes("host-1");
      const clusterBefore = await clusterIdOn("host-1");
      assert.deepEqual(Object.keys(membersBefore.ids).sort(), ["host-1", "host-2", "host-3"]);
      assert.equal(nodesBefore.length, 4);

      for (const host of ["host-1", "host-4"]) {
        await docker(["rm", "--force", "--volumes", hostContainer(host)]);
        await docker(["volume", "rm", localResourceNames(REJOIN_STACK, host).volume]);
      }
      await stack!.refresh();
      await up();

      // etcd: the stale member was replaced by a new one that has the cluster's data.
      const membersAfter = await etcdMembers("host-2");
      assert.deepEqual(Object.keys(membersAfter.ids).sort(), ["host-1", "host-2", "host-3"]);
      assert.ok(membersAfter.allStarted, "a member is listed but not started");
      assert.notEqual(membersAfter.ids["host-1"], membersBefore.ids["host-1"]);
      assert.equal(membersAfter.ids["host-2"], membersBefore.ids["host-2"]);
      const health = await etcdctl("host-1", "endpoint health 2>&1", [
        endpoint("host-1"),
        endpoint("host-2"),
        endpoint("host-3"),
      ]);
      assert.equal(health.match(/is healthy/g)?.length, 3, health);
      // A serializable read answers from host-1's own copy of the data.
      const value = await etcdctl(
        "host-1",
        "get --consistency=s --print-value-only /dockfleet/before-the-fault",
      );
      assert.equal(value.trim(), "written-via-host-1");

      // swarm: the same swarm (the two managers left kept quorum), host-1 a manager of it again,
      // host-4 a worker again, and the nodes their old machines were are gone from the list.
      assert.equal(await clusterIdOn("host-1"), clusterBefore);
      const nodesAfter = await swarmNodes("host-2");
      assert.deepEqual(
        nodesAfter
          .map((node) => `${node.hostname} ${node.status} ${node.manager ? "manager" : "worker"}`)
          .sort(),
        [
          "host-1 Ready manager",
          "host-2 Ready manager",
          "host-3 Ready manager",
          "host-4 Ready worker",
        ],
      );
      assert.ok(
        nodesAfter.every((node) => ["", "Leader", "Reachable"].includes(node.manager ?? "")),
        JSON.stringify(nodesAfter),
      );
      for (const host of ["host-1", "host-4"]) {
        const old = nodesBefore.find((node) => node.hostname === host)!;
        assert.ok(!nodesAfter.some((node) => node.id === old.id), `the old ${host} node is listed`);
      }

      assertNothingChanged(await stack!.up());
    });

    it("destroy completes with an etcd member stopped", async () => {
      await dockerExec(hostContainer("host-2"), "systemctl stop etcd");
      const result = await stack!.destroy({ onOutput: (line) => process.stdout.write(line) });
      assert.equal(result.summary.result, "succeeded");
      await assertNothingLabelled(REJOIN_STACK);
    });
  },
);
