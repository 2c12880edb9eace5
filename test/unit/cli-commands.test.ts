import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { findActiveHost } from "../../cli/active";
import { endpointOf, memberOn } from "../../cli/etcd-api";
import { renderGlobalStatus } from "../../cli/global-status";
import { machineState } from "../../cli/host-state";
import { inspectHost } from "../../cli/inspect";
import { buildProgram } from "../../cli/main";
import { hostPowerOf, POWERED_DRIVERS } from "../../cli/power";
import { requirePower, selectHosts } from "../../cli/power-commands";
import { parseCopyEndpoint, renderScpArgs } from "../../cli/scp";
import { renderStatusTable } from "../../cli/status";
import type { NamedStackOutputs } from "../../cli/stack-outputs";
import {
  cloudPower,
  findInstance,
  instancePowerState,
  planInstancePower,
  type CloudRequest,
  useCloudApi,
} from "../../components/machines/cloud/power";
import { containerPowerState } from "../../components/machines/local/power";
import type { PowerTarget, StateResource } from "../../components/machines/power";
import { findQemuVmDir, qemuPower, qemuPowerState } from "../../components/machines/qemu/power";
import {
  planVmPower,
  virtualBoxPower,
  vmPowerState,
} from "../../components/machines/virtualbox/power";
import type { HostOutput } from "../../components/stack/outputs";

const host = (name: string, address: string, extra: Partial<HostOutput> = {}): HostOutput => ({
  name,
  driver: "local",
  address,
  privateAddress: address,
  dockerHost: `tcp://${address}:2376`,
  dockerVersion: "20.10.24+dfsg1-1+deb12u1",
  sshUser: "root",
  sshPort: 22,
  hostKey: "ssh-ed25519 AAAAkey",
  sshCommand: `ssh root@${address}`,
  certificates: [{ use: "docker", notAfter: "2029-03-07T10:00:00.000Z", serialNumber: "1a" }],
  ...extra,
});

const outputs: NamedStackOutputs = {
  stack: "dev",
  hosts: [host("host-1", "172.30.92.10"), host("host-2", "172.30.92.11")],
  dockerTls: { caPem: "ca", certPem: "cert", keyPem: "key" },
  sshPrivateKey: "key",
  swarmManager: {
    name: "host-1",
    address: "172.30.92.10",
    nodes: [
      { name: "host-1", role: "manager", availability: "active", nodeId: "n1" },
      { name: "host-2", role: "worker", availability: "active", nodeId: "n2" },
    ],
  },
  apps: {},
};

const files = { identityFile: "/k/id", knownHostsFile: "/k/known_hosts" };

describe("dockfleet status, ls and global-status states", () => {
  it("tells a stopped host from a broken one", () => {
    assert.deepEqual(machineState({ state: "stopped" }, undefined), {
      state: "Stopped",
      error: null,
    });
    assert.deepEqual(machineState({ state: "paused" }, undefined), {
      state: "Paused",
      error: null,
    });
    assert.deepEqual(machineState({ state: "running" }, { reachable: true }), {
      state: "Running",
      error: null,
    });
    assert.deepEqual(
      machineState({ state: "running" }, { reachable: false, error: "connect ECONNREFUSED" }),
      { state: "Error", error: "Docker API: connect ECONNREFUSED" },
    );
    assert.match(machineState({ state: "missing" }, undefined).error ?? "", /does not exist/);
    // ssh driver: no power, the engine decides.
    assert.equal(machineState({}, { reachable: true }).state, "Running");
    assert.equal(machineState({}, { reachable: false, error: "timeout" }).state, "Error");
  });

  it("maps the local and VirtualBox drivers' states", () => {
    assert.equal(containerPowerState("running"), "running");
    assert.equal(containerPowerState("exited"), "stopped");
    assert.equal(containerPowerState("paused"), "paused");
    assert.equal(containerPowerState(undefined), "missing");
    assert.equal(vmPowerState('name="x"\nVMState="poweroff"\n'), "stopped");
    assert.equal(vmPowerState('VMState="running"\n'), "running");
    assert.equal(vmPowerState(""), "missing");
  });

  it("prints docker-machine's and Vagrant's shapes", () => {
    const states = [
      {
        name: "host-1",
        driver: "local",
        state: "Running" as const,
        power: "running" as const,
        reachable: true,
        error: null,
      },
      {
        name: "host-2",
        driver: "local",
        state: "Stopped" as const,
        power: "stopped" as const,
        reachable: false,
        error: null,
      },
    ];
    assert.equal(renderStatusTable(states), "NAME     STATE\nhost-1   Running\nhost-2   Stopped");
    assert.equal(
      renderGlobalStatus([
        {
          stack: "dev",
          hosts: states.map((state) => ({ ...state, address: "10.0.0.1" })),
          error: null,
        },
        { stack: "empty", hosts: [], error: 'stack "empty" has no hosts in its outputs' },
      ]),
      [
        "STACK   NAME     DRIVER   STATE     ADDRESS    ERRORS",
        "dev     host-1   local    Running   10.0.0.1",
        "dev     host-2   local    Stopped   10.0.0.1",
        'empty   -        -        -         -          stack "empty" has no hosts in its outputs',
      ].join("\n"),
    );
  });
});

describe("dockfleet inspect and active", () => {
  it("inspects a host: planned and live swarm role, etcd membership, earliest expiry", () => {
    const inspection = inspectHost(outputs, outputs.hosts[1], {
      state: {
        name: "host-2",
        driver: "local",
        state: "Running",
        power: "running",
        reachable: true,
        error: null,
      },
      probe: { reachable: true, serverVersion: "20.10.24", swarmRole: "worker" },
      etcd: {
        member: true,
        name: "host-2",
        id: "8e9e05c52164694d",
        healthy: true,
        endpoint: "https://172.30.92.11:2379",
        error: null,
      },
    });
    assert.deepEqual(inspection.addresses, {
      address: "172.30.92.11",
      privateAddress: "172.30.92.11",
    });
    assert.equal(inspection.docker.version, "20.10.24");
    assert.equal(inspection.docker.installedVersion, "20.10.24+dfsg1-1+deb12u1");
    assert.equal(inspection.certificatesExpire, "2029-03-07T10:00:00.000Z");
    assert.deepEqual(inspection.swarm, {
      role: "worker",
      nodeId: "n2",
      availability: "active",
      liveRole: "worker",
    });
    assert.equal(inspection.etcd?.healthy, true);
    const noSwarm = inspectHost({ ...outputs, swarmManager: undefined }, outputs.hosts[0], {
      state: {
        name: "host-1",
        driver: "local",
        state: "Stopped",
        power: "stopped",
        reachable: false,
        error: null,
      },
      probe: undefined,
      etcd: null,
    });
    assert.equal(noSwarm.swarm, null);
    assert.equal(noSwarm.docker.version, null);
  });

  it("finds the host DOCKER_HOST names, a trailing slash or case aside", () => {
    assert.equal(findActiveHost(outputs.hosts, "tcp://172.30.92.11:2376/")?.name, "host-2");
    assert.equal(findActiveHost(outputs.hosts, "tcp://172.30.92.12:2376"), undefined);
  });

  it("finds a host's etcd endpoint and member by address", () => {
    const endpoints = ["https://172.30.92.10:2379", "https://172.30.92.11:2379"];
    assert.equal(endpointOf(endpoints, "172.30.92.11"), "https://172.30.92.11:2379");
    assert.equal(endpointOf(endpoints, "172.30.92.1"), undefined);
    const list = {
      members: [
        { ID: "1", name: "host-1", clientURLs: ["https://172.30.92.10:2379"] },
        { ID: "2", name: "host-2", clientURLs: ["https://172.30.92.11:2379"] },
      ],
    };
    assert.equal(memberOn(list, "172.30.92.11")?.name, "host-2");
    assert.equal(memberOn(list, "172.30.92.111"), undefined);
  });
});

describe("dockfleet scp", () => {
  it("reads host:path as remote, anything else as local", () => {
    assert.deepEqual(parseCopyEndpoint("host-1:/etc/hosts"), {
      host: "host-1",
      path: "/etc/hosts",
    });
    assert.deepEqual(parseCopyEndpoint("host-1:"), { host: "host-1", path: "" });
    assert.deepEqual(parseCopyEndpoint("./a:b"), { path: "./a:b" });
    assert.deepEqual(parseCopyEndpoint("/tmp/x"), { path: "/tmp/x" });
  });

  it("runs scp with the pinned key only, the host's port, -r and -3 between hosts", () => {
    const up = renderScpArgs(
      outputs,
      { path: "f" },
      { host: "host-1", path: "/tmp/" },
      files,
      false,
    );
    assert.deepEqual(up.slice(-5), ["-P", "22", "--", "f", "root@172.30.92.10:/tmp/"]);
    const options = up.filter((_, index) => up[index - 1] === "-o");
    assert.ok(options.includes("StrictHostKeyChecking=yes"));
    assert.ok(options.includes("UserKnownHostsFile=/k/known_hosts"));
    const between = renderScpArgs(
      outputs,
      { host: "host-1", path: "a" },
      { host: "host-2", path: "b" },
      files,
      true,
    );
    assert.deepEqual(between.slice(-7), [
      "-P",
      "22",
      "-r",
      "-3",
      "--",
      "root@172.30.92.10:a",
      "root@172.30.92.11:b",
    ]);
    const v6 = { ...outputs, hosts: [host("h6", "fd00::10", { sshPort: 2222 })] };
    assert.deepEqual(
      renderScpArgs(v6, { host: "h6", path: "x" }, { path: "." }, files, false).slice(-5),
      ["-P", "2222", "--", "root@[fd00::10]:x", "."],
    );
    assert.throws(
      () => renderScpArgs(outputs, { path: "f" }, { host: "host-9", path: "/" }, files, false),
      /no host named "host-9" in stack "dev" \(hosts: host-1, host-2\)/,
    );
    const ports = {
      ...outputs,
      hosts: [host("a", "10.0.0.1"), host("b", "10.0.0.2", { sshPort: 2200 })],
    };
    assert.throws(
      () => renderScpArgs(ports, { host: "a", path: "x" }, { host: "b", path: "y" }, files, false),
      /their SSH ports differ/,
    );
  });
});

describe("dockfleet stop, start, restart", () => {
  it("names hosts or --all, and refuses drivers without power", () => {
    assert.deepEqual(
      selectHosts(outputs, [], true).map((h) => h.name),
      ["host-1", "host-2"],
    );
    assert.throws(
      () => selectHosts(outputs, [], false),
      /which host\? .*host-1, host-2.* or give --all/,
    );
    assert.throws(() => selectHosts(outputs, ["host-1"], true), /not both/);
    assert.throws(() => selectHosts(outputs, ["host-3"], false), /no host named "host-3"/);
    assert.throws(
      () => requirePower(host("h", "10.0.0.1", { driver: "ssh" }), "stop"),
      /cannot stop h: its driver "ssh" has no power control: dockfleet did not create its machine \(drivers that have: local, virtualbox, qemu, aws, aliyun\)/,
    );
    assert.deepEqual(POWERED_DRIVERS, ["local", "virtualbox", "qemu", "aws", "aliyun"]);
    assert.equal(hostPowerOf("ssh"), undefined);
    assert.equal(hostPowerOf("qemu"), qemuPower, "qemu hosts are powered by the qemu driver");
    assert.doesNotThrow(() =>
      requirePower(host("vm-1", "172.30.20.10", { driver: "qemu" }), "stop"),
    );
  });

  it("powers qemu VMs in the folder the state names (a stand-in process for QEMU; real VMs: test/e2e/qemu.test.ts)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qemu-power-"));
    const vmDir = path.join(dir, "vm", "vm-1");
    // As a state export holds them: the QemuVm's id is its folder; other resources name the host too.
    const resources: StateResource[] = [
      {
        urn: "urn:pulumi:vm::dockfleet::dockfleet:machines:QemuMachines$pulumi-nodejs:dynamic/dockfleet:SshKeyPair::vm-machines-vm-1-host-key",
        type: "pulumi-nodejs:dynamic/dockfleet:SshKeyPair",
        id: "SHA256:x",
        outputs: {},
      },
      {
        urn: "urn:pulumi:vm::dockfleet::dockfleet:machines:QemuMachines$pulumi-nodejs:dynamic/dockfleet:QemuVm::vm-machines-vm-2",
        type: "pulumi-nodejs:dynamic/dockfleet:QemuVm",
        id: path.join(dir, "vm", "vm-2"),
        outputs: { vm: { host: "vm-2", dir: path.join(dir, "vm", "vm-2") } },
      },
      {
        urn: "urn:pulumi:vm::dockfleet::dockfleet:machines:QemuMachines$pulumi-nodejs:dynamic/dockfleet:QemuVm::vm-machines-vm-1",
        type: "pulumi-nodejs:dynamic/dockfleet:QemuVm",
        id: vmDir,
        outputs: { vm: { host: "vm-1", dir: vmDir } },
      },
    ];
    assert.equal(findQemuVmDir(resources, "vm-1"), vmDir);
    assert.equal(findQemuVmDir(resources, "vm-3"), undefined);
    assert.equal(qemuPowerState("running"), "running");
    assert.equal(qemuPowerState("stopped"), "stopped");
    assert.equal(qemuPowerState("gone"), "missing", "QEMU died behind dockfleet's back");
    assert.equal(qemuPowerState(undefined), "missing", "not in the state");
    assert.ok((qemuPower.backTimeoutMs ?? 0) > 180_000, "a VM may boot for minutes under TCG");

    const target: PowerTarget = {
      stack: "vm",
      host: "vm-1",
      stateResources: async () => resources,
    };
    // A process whose command line names the VM's pid file, as QEMU's does.
    fs.mkdirSync(vmDir, { recursive: true });
    const pidFile = path.join(vmDir, "qemu.pid");
    const qemu = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", pidFile], {
      stdio: "ignore",
    });
    try {
      fs.writeFileSync(pidFile, `${qemu.pid}\n`);
      fs.writeFileSync(path.join(vmDir, "disk.qcow2"), "");
      assert.equal(await qemuPower.state(target), "running");
      // No QMP socket to press the power button on: stopQemuVm kills the process, marks it stopped.
      await qemuPower.stop(target);
      assert.notEqual(qemu.exitCode ?? qemu.signalCode, null, "the stand-in QEMU has exited");
      assert.ok(fs.existsSync(path.join(vmDir, "stopped")), "stopped on purpose, kept by refresh");
      assert.equal(await qemuPower.state(target), "stopped");
      assert.deepEqual(
        machineState({ state: await qemuPower.state(target) }, undefined),
        { state: "Stopped", error: null },
        "ls and status show it Stopped",
      );
      // start runs QEMU again with the arguments saved in the state's folder at create.
      await assert.rejects(qemuPower.start(target), (error: Error) =>
        error.message.includes(path.join(vmDir, "qemu-args.json")),
      );
      fs.rmSync(path.join(vmDir, "stopped"));
      assert.equal(await qemuPower.state(target), "missing", "gone without dockfleet's marker");
      const absent: PowerTarget = { ...target, host: "vm-3" };
      assert.equal(await qemuPower.state(absent), "missing");
      await assert.rejects(
        qemuPower.stop(absent),
        /the stack's state has no qemu VM for host vm-3/,
      );
    } finally {
      qemu.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("powers VirtualBox VMs through VBoxManage (mocked: a recording stand-in binary)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vbox-power-"));
    const fake = path.join(dir, "VBoxManage");
    // Records its arguments; showvminfo answers from a state file that controlvm/startvm change.
    fs.writeFileSync(
      fake,
      [
        "#!/bin/sh",
        `echo "$*" >> ${dir}/calls`,
        `case "$1" in`,
        `  showvminfo) echo "VMState=\\"$(cat ${dir}/state)\\"";;`,
        `  controlvm) echo poweroff > ${dir}/state;;`,
        `  startvm) echo running > ${dir}/state;;`,
        "esac",
      ].join("\n"),
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, "state"), "running\n");
    const previous = process.env.DOCKFLEET_VBOXMANAGE;
    process.env.DOCKFLEET_VBOXMANAGE = fake;
    try {
      const target: PowerTarget = { stack: "vbox", host: "host-1", stateResources: async () => [] };
      assert.equal(await virtualBoxPower.state(target), "running");
      await virtualBoxPower.stop(target);
      assert.equal(await virtualBoxPower.state(target), "stopped");
      await virtualBoxPower.start(target);
      const calls = fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");
      const plan = planVmPower("vbox", "host-1");
      assert.deepEqual(calls, [
        plan.info.join(" "),
        plan.shutdown.join(" "),
        plan.info.join(" "),
        plan.info.join(" "),
        "startvm dockfleet-vbox-host-1 --type headless",
      ]);
      assert.equal(plan.shutdown.join(" "), "controlvm dockfleet-vbox-host-1 acpipowerbutton");
    } finally {
      if (previous === undefined) delete process.env.DOCKFLEET_VBOXMANAGE;
      else process.env.DOCKFLEET_VBOXMANAGE = previous;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stops and starts cloud instances with the APIs' calls (mocked: a recording CloudApi)", async () => {
    const resources = [
      {
        urn: "urn:pulumi:prod::dockfleet::dockfleet:machines:AwsMachines$aws:ec2/instance:Instance::prod-machines-host-1",
        type: "aws:ec2/instance:Instance",
        id: "i-0abc",
        outputs: { availabilityZone: "eu-west-1a" },
      },
      {
        urn: "urn:pulumi:cn::dockfleet::x$alicloud:ecs/instance:Instance::cn-machines-host-1",
        type: "alicloud:ecs/instance:Instance",
        id: "i-bp1",
        outputs: { availabilityZone: "cn-hangzhou-h" },
      },
    ];
    assert.deepEqual(findInstance("aws", resources, "host-1"), {
      id: "i-0abc",
      region: "eu-west-1",
    });
    assert.deepEqual(findInstance("aliyun", resources, "host-1"), {
      id: "i-bp1",
      region: "cn-hangzhou",
    });
    assert.throws(
      () => findInstance("aws", resources, "host-2"),
      /no aws instance for host host-2/,
    );
    assert.deepEqual(planInstancePower("aliyun", { id: "i-bp1", region: "cn-hangzhou" }).stop, {
      provider: "aliyun",
      service: "ecs",
      action: "StopInstance",
      region: "cn-hangzhou",
      params: { RegionId: "cn-hangzhou", InstanceId: "i-bp1" },
    });
    assert.equal(
      instancePowerState("aliyun", { Instances: { Instance: [{ Status: "Stopped" }] } }),
      "stopped",
    );
    assert.equal(instancePowerState("aws", { Reservations: [] }), "missing");

    const calls: CloudRequest[] = [];
    let state = "running";
    const restore = useCloudApi("aws", async (request) => {
      calls.push(request);
      if (request.action === "StopInstances") state = "stopped";
      if (request.action === "StartInstances") state = "running";
      return { Reservations: [{ Instances: [{ State: { Name: state } }] }] };
    });
    try {
      const power = cloudPower("aws");
      const target: PowerTarget = {
        stack: "prod",
        host: "host-1",
        stateResources: async () => resources,
      };
      await power.stop(target);
      await power.start(target);
      assert.deepEqual(
        calls.map(
          (call) => `${call.service}:${call.action} ${call.region} ${JSON.stringify(call.params)}`,
        ),
        [
          'ec2:StopInstances eu-west-1 {"InstanceIds":["i-0abc"]}',
          'ec2:DescribeInstances eu-west-1 {"InstanceIds":["i-0abc"]}',
          'ec2:StartInstances eu-west-1 {"InstanceIds":["i-0abc"]}',
          'ec2:DescribeInstances eu-west-1 {"InstanceIds":["i-0abc"]}',
        ],
      );
    } finally {
      restore();
    }
    // Without an SDK client, the command says what it would have sent.
    await assert.rejects(
      cloudPower("aliyun").stop({
        stack: "cn",
        host: "host-1",
        stateResources: async () => resources,
      }),
      /aliyun power needs the cloud's SDK client.*ecs:StopInstance in cn-hangzhou/,
    );
  });
});

describe("dockfleet's command line", () => {
  const parse = async (args: string[]) => {
    const program = buildProgram();
    let out = "";
    program.configureOutput({
      writeOut: (text) => (out += text),
      writeErr: (text) => (out += text),
    });
    for (const command of program.commands) {
      command.configureOutput({
        writeOut: (text) => (out += text),
        writeErr: (text) => (out += text),
      });
      command.exitOverride();
    }
    try {
      await program.parseAsync(["node", "dockfleet", ...args]);
      return { code: 0, out };
    } catch (error) {
      if (!(error instanceof CommanderError)) throw error;
      return { code: error.exitCode, out };
    }
  };

  it("has --help, -s/--stack and --json on every command but the interactive ssh", async () => {
    const program = buildProgram();
    const names = [
      "status",
      "global-status",
      "ip",
      "url",
      "inspect",
      "active",
      "scp",
      "stop",
      "start",
      "restart",
      "ls",
      "env",
      "context",
      "ssh-config",
      "regenerate-certs",
      "upgrade",
      "snapshot",
    ];
    for (const name of names) {
      const command = program.commands.find((candidate) => candidate.name() === name);
      assert.ok(command, name);
      const flags = command.options.map((option) => option.long);
      assert.ok(flags.includes("--json"), `${name} has --json`);
      if (name !== "global-status") assert.ok(flags.includes("--stack"), `${name} has --stack`);
      const help = await parse([name, "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.out, new RegExp(`^Usage: dockfleet ${name}`));
    }
  });

  it("knows Vagrant's halt, up and reload", async () => {
    for (const [alias, name] of [
      ["halt", "stop"],
      ["up", "start"],
      ["reload", "restart"],
    ]) {
      const help = await parse([alias, "--help"]);
      assert.match(
        help.out,
        new RegExp(`^Usage: dockfleet ${name}\\|${alias} \\[options\\] \\[hosts\\.\\.\\.\\]`),
      );
    }
  });

  it("refuses missing arguments and unknown options before reading a stack", async () => {
    assert.equal((await parse(["ip"])).code, 1);
    assert.match((await parse(["ip"])).out, /missing required argument 'hosts'/);
    assert.match((await parse(["url", "host-1", "--bogus"])).out, /unknown option '--bogus'/);
    assert.match((await parse(["scp", "only-one"])).out, /missing required argument 'destination'/);
  });
});
