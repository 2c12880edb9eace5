import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { type StackOutputs, parseOutputMap } from "../../components/stack/outputs";
import {
  docker,
  dockerExec,
  requireHostImage,
  retryUntilPasses,
  runCommand,
} from "../helpers/docker";
import {
  ROOT,
  openStack,
  removeStackCompletely,
  stepTimer,
  writeStackConfig,
} from "../helpers/stack";

/**
 * Every command of bin/dockfleet against one real local stack: two hosts, a swarm (host-1
 * manager, host-2 worker) and an etcd cluster of both. status, ip, url, inspect, active, ls,
 * global-status and scp (both ways, -r, host to host); an unknown host and stack refused by each
 * command; `stop host-2` (ls and status show it Stopped, not an error), `start host-2` (back in the
 * swarm and the etcd cluster, which had lost its quorum, without `up`) and `reload host-1`.
 */

const STACK = `e2ecli${process.pid}`;
const SUBNET = "172.30.92.0/24";

describe("bin/dockfleet commands on a real stack", { timeout: 20 * 60_000 }, () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-e2e-cli-"));
  const { timings, timed } = stepTimer();
  let stack: Stack;
  let outputs: StackOutputs;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKFLEET_HOME: path.join(home, "files"),
    DOCKFLEET_STACK: STACK,
  };
  delete env.DOCKER_HOST;

  /** bin/dockfleet ARGS with this stack as the default; never throws for an exit code. */
  const run = (args: string[], extraEnv: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        path.join(ROOT, "bin", "dockfleet"),
        args,
        { env: { ...env, ...extraEnv }, timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const ok = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const result = await timed(`dockfleet ${args.join(" ")}`, () => run(args, extraEnv));
    assert.equal(
      result.code,
      0,
      `dockfleet ${args.join(" ")}:\n${result.stderr}\n${result.stdout}`,
    );
    return result.stdout;
  };
  const json = async <T>(args: string[]) => JSON.parse(await ok([...args, "--json"])) as T;
  const container = (host: string) => localResourceNames(STACK, host).container;
  const etcdctl = (host: string, args: string) =>
    dockerExec(
      container(host),
      `ETCDCTL_API=3 etcdctl --endpoints=https://${outputs.hosts.find((h) => h.name === host)!.address}:2379 ` +
        "--cacert=/etc/etcd/pki/ca.pem --cert=/etc/etcd/pki/member.pem " +
        `--key=/etc/etcd/pki/member-key.pem --dial-timeout=3s --command-timeout=5s ${args}`,
    );
  const swarmNodes = async () =>
    (await dockerExec(container("host-1"), "docker node ls --format '{{.Hostname}} {{.Status}}'"))
      .trim()
      .split("\n")
      .sort();

  before(async () => {
    requireHostImage();
    writeStackConfig(STACK, {
      hosts: 2,
      local: { subnet: SUBNET },
      etcd: { enabled: true, members: 2 },
      swarm: { enabled: true, managers: 1 },
    });
    stack = await openStack(STACK);
    const result = await timed("up", () => stack.up());
    assert.equal(result.summary.result, "succeeded");
    outputs = parseOutputMap(result.outputs);
  });

  after(async () => {
    console.log(`timings (s): ${JSON.stringify(timings)}`);
    await removeStackCompletely(stack, STACK);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("status, ip, url, inspect, active, ls, global-status and env --json read the stack and the hosts", async () => {
    const [host1, host2] = outputs.hosts;
    const [status, statusAll, ip, ipPrivate, url, inspect, active, ls, global, envJson] =
      await Promise.all([
        ok(["status", "host-1"]),
        json<{ name: string; state: string }[]>(["status"]),
        ok(["ip", "host-1", "host-2"]),
        json<{ privateAddress: string }[]>(["ip", "host-2"]),
        ok(["url", "host-2"]),
        json<{
          driver: string;
          state: string;
          addresses: { address: string };
          docker: { version: string | null; reachable: boolean };
          certificatesExpire: string | null;
          swarm: { role: string; liveRole: string } | null;
          etcd: { member: boolean; healthy: boolean; name: string } | null;
        }>(["inspect", "host-1"]),
        ok(["active"], { DOCKER_HOST: host2.dockerHost }),
        json<{ name: string; state: string; reachable: boolean }[]>(["ls"]),
        json<{ stack: string; hosts: { name: string; state: string }[] }[]>(["global-status"]),
        json<Record<string, string>>(["env", "host-2"]),
      ]);
    assert.equal(envJson.DOCKER_HOST, host2.dockerHost);
    assert.equal(envJson.DOCKER_CERT_PATH, path.join(home, "files", STACK));
    assert.equal(status, "Running\n");
    assert.deepEqual(
      statusAll.map((row) => [row.name, row.state]),
      [
        ["host-1", "Running"],
        ["host-2", "Running"],
      ],
    );
    assert.equal(ip, `${host1.address}\n${host2.address}\n`);
    assert.equal(ipPrivate[0].privateAddress, host2.privateAddress);
    assert.equal(url, `${host2.dockerHost}\n`);
    assert.equal(inspect.driver, "local");
    assert.equal(inspect.state, "Running");
    assert.equal(inspect.addresses.address, host1.address);
    assert.equal(inspect.docker.reachable, true);
    assert.match(inspect.docker.version ?? "", /^\d+\.\d+\.\d+/);
    assert.equal(inspect.certificatesExpire, host1.certificates?.map((c) => c.notAfter).sort()[0]);
    assert.deepEqual(inspect.swarm && [inspect.swarm.role, inspect.swarm.liveRole], [
      "manager",
      "manager",
    ]);
    assert.deepEqual(inspect.etcd && [inspect.etcd.member, inspect.etcd.healthy], [true, true]);
    assert.equal(active, "host-2\n");
    assert.deepEqual(
      ls.map((row) => [row.name, row.state, row.reachable]),
      [
        ["host-1", "Running", true],
        ["host-2", "Running", true],
      ],
    );
    // After `eval "$(dockfleet env host-2)"` DOCKER_HOST names host-2's engine; the host
    // containers are still found on this machine's.
    const pointed = JSON.parse(await ok(["ls", "--json"], envJson)) as { state: string }[];
    assert.deepEqual(
      pointed.map((row) => row.state),
      ["Running", "Running"],
    );
    const mine = global.find((entry) => entry.stack === STACK);
    assert.deepEqual(
      mine?.hosts.map((host) => [host.name, host.state]),
      [
        ["host-1", "Running"],
        ["host-2", "Running"],
      ],
      JSON.stringify(global),
    );
  });

  it("refuses an unknown host and an unknown stack clearly, and has --help", async () => {
    // One reader, scp and a power command: every command finds its host through findHost.
    const hostCommands = [
      ["inspect", "host-9"],
      ["scp", "/etc/hostname", "host-9:/tmp/"],
      ["stop", "host-9"],
    ];
    const results = await timed("unknown host and stack", () =>
      Promise.all([
        ...hostCommands.map((args) => run(args)),
        run(["status", "-s", "nosuch"]),
        run(["active"], { DOCKER_HOST: "tcp://192.0.2.1:2376" }),
        run(["halt", "--help"]),
      ]),
    );
    hostCommands.forEach((args, index) => {
      assert.equal(results[index].code, 1, `${args.join(" ")}: ${results[index].stderr}`);
      assert.match(results[index].stderr, /no host named "host-9" .*\(hosts: host-1, host-2\)/);
    });
    const [unknownStack, noActive, help] = results.slice(hostCommands.length);
    assert.equal(unknownStack.code, 1);
    assert.match(unknownStack.stderr, /no stack named "nosuch"/);
    assert.equal(noActive.code, 1);
    assert.match(noActive.stderr, /no active host: DOCKER_HOST=tcp:\/\/192\.0\.2\.1:2376 is none/);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: dockfleet stop\|halt/);
  });

  it("scp copies to, from and between hosts with the pinned keys (-r for folders)", async () => {
    const local = path.join(home, "copy");
    fs.mkdirSync(path.join(local, "tree", "sub"), { recursive: true });
    fs.writeFileSync(path.join(local, "file.txt"), "to host-1\n");
    fs.writeFileSync(path.join(local, "tree", "sub", "deep.txt"), "deep\n");
    await ok(["scp", path.join(local, "file.txt"), "host-1:/tmp/file.txt"]);
    assert.equal(await dockerExec(container("host-1"), "cat /tmp/file.txt"), "to host-1\n");
    await ok(["scp", "-r", path.join(local, "tree"), "host-2:/tmp/"]);
    assert.equal(await dockerExec(container("host-2"), "cat /tmp/tree/sub/deep.txt"), "deep\n");
    await ok(["scp", "host-1:/tmp/file.txt", "host-2:/tmp/copied.txt"]);
    assert.equal(await dockerExec(container("host-2"), "cat /tmp/copied.txt"), "to host-1\n");
    await ok(["scp", "-r", "host-2:/tmp/tree", path.join(local, "back")]);
    assert.equal(fs.readFileSync(path.join(local, "back", "sub", "deep.txt"), "utf8"), "deep\n");
    // The pinned key is the only one accepted: with another key pinned for host-1, scp refuses.
    const knownHosts = path.join(home, "files", STACK, "known_hosts");
    const pinned = fs.readFileSync(knownHosts, "utf8");
    const wrongKey = outputs.hosts[1].hostKey.split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(knownHosts, `${outputs.hosts[0].address} ${wrongKey}\n`);
    const refused = await runCommand("scp", [
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      `IdentityFile=${path.join(home, "files", STACK, "id_ed25519")}`,
      path.join(local, "file.txt"),
      `root@${outputs.hosts[0].address}:/tmp/x`,
    ]);
    fs.writeFileSync(knownHosts, pinned);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it("stop shows the host Stopped; start brings it back into its swarm and etcd cluster without up", async () => {
    await etcdctl("host-1", "put /dockfleet/cli before-stop");
    const stopped = await json<{ name: string; before: string; steps: string[] }[]>([
      "halt",
      "host-2",
    ]);
    assert.deepEqual([stopped[0].name, stopped[0].before], ["host-2", "running"]);
    assert.equal(
      (await docker(["inspect", "--format", "{{.State.Status}}", container("host-2")])).trim(),
      "exited",
    );
    const [status, ls, again] = await Promise.all([
      ok(["status", "host-2"]),
      json<{ name: string; state: string; error: string | null }[]>(["ls"]),
      json<{ before: string; steps: string[] }[]>(["stop", "host-2"]),
    ]);
    assert.equal(status, "Stopped\n");
    assert.deepEqual(
      ls.map((row) => [row.name, row.state, row.error]),
      [
        ["host-1", "Running", null],
        ["host-2", "Stopped", null],
      ],
      "a stopped host is not an error",
    );
    assert.deepEqual(
      [again[0].before, again[0].steps],
      ["stopped", []],
      "stopping twice is a no-op",
    );
    // Two members, one stopped: the cluster has no quorum now.
    await assert.rejects(etcdctl("host-1", "put /dockfleet/cli no-quorum"));

    const started = await json<{ steps: string[] }[]>(["start", "host-2"]);
    assert.deepEqual(
      started[0].steps.map((step) => step.replace(/ \(.*\)$/, "")),
      ["started", "Docker API answers", "back in the swarm as worker", "etcd member healthy"],
    );
    await retryUntilPasses(
      "host-2 Ready in the swarm",
      async () => assert.deepEqual(await swarmNodes(), ["host-1 Ready", "host-2 Ready"]),
      30_000,
    );
    await etcdctl("host-2", "put /dockfleet/cli after-start");
    assert.match(await etcdctl("host-1", "get /dockfleet/cli"), /after-start/);
    assert.equal(await ok(["status", "host-2"]), "Running\n");

    const reloaded = await json<{ steps: string[] }[]>(["reload", "host-1"]);
    assert.deepEqual(
      reloaded[0].steps.map((step) => step.replace(/ \(.*\)$/, "")),
      [
        "stopped",
        "started",
        "Docker API answers",
        "back in the swarm as manager",
        "etcd member healthy",
      ],
    );
    await retryUntilPasses(
      "both nodes Ready after the manager's restart",
      async () => assert.deepEqual(await swarmNodes(), ["host-1 Ready", "host-2 Ready"]),
      60_000,
    );
    assert.match(await etcdctl("host-2", "get /dockfleet/cli"), /after-start/);
  });
});
