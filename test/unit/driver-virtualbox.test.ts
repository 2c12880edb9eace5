import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { cidrContains } from "../../components/machines/config";
import {
  deployEnvironment,
  dynamicType,
  installMocks,
  readStackFile,
  resourcesOf,
  secretInput,
  stackConfig,
  valueOf,
} from "./fixtures/pulumi-mocks";

installMocks("vboxtest");

type ConfigModule = typeof import("../../components/stack/config");
type PlanModule = typeof import("../../components/machines/virtualbox/plan");
type CliModule = typeof import("../../components/machines/virtualbox/vboxmanage");
type VmModule = typeof import("../../components/machines/virtualbox/vm");
let config: ConfigModule;
let plan: PlanModule;
let cli: CliModule;
let vm: VmModule;

const FIXTURE = path.join(__dirname, "fixtures", "virtualbox-plan.json");
const AUTHORIZED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKey dockfleet-vbox";

function vboxConfig(values: Record<string, unknown>, hosts = 2) {
  const resolved = config.resolveStackConfig(
    stackConfig({ driver: "virtualbox", hosts, virtualbox: values }),
  );
  assert.ok(resolved.virtualbox);
  return resolved.virtualbox;
}

function twoVmPlan() {
  return plan.planVirtualBoxEnvironment({
    stack: "vbox",
    count: 2,
    namePrefix: "host",
    config: vboxConfig({
      image: "/srv/images/debian-12-cloud.ova",
      workDir: "/var/lib/dockfleet/vbox",
    }),
    authorizedKey: AUTHORIZED_KEY,
  });
}

/** Runs `body` with PATH (and DOCKFLEET_VBOXMANAGE) replaced, restoring them after. */
async function withPath<T>(dirs: string[], body: () => Promise<T>): Promise<T> {
  const saved = { path: process.env.PATH, vbox: process.env.DOCKFLEET_VBOXMANAGE };
  process.env.PATH = dirs.join(path.delimiter);
  delete process.env.DOCKFLEET_VBOXMANAGE;
  try {
    return await body();
  } finally {
    process.env.PATH = saved.path;
    if (saved.vbox !== undefined) process.env.DOCKFLEET_VBOXMANAGE = saved.vbox;
  }
}

describe("virtualbox driver", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-vbox-test-"));
  before(async () => {
    config = await import("../../components/stack/config");
    plan = await import("../../components/machines/virtualbox/plan");
    cli = await import("../../components/machines/virtualbox/vboxmanage");
    vm = await import("../../components/machines/virtualbox/vm");
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("plans create and destroy of a 2-VM environment exactly as recorded", () => {
    const expected = JSON.parse(fs.readFileSync(FIXTURE, "utf8"));
    assert.deepEqual(JSON.parse(JSON.stringify(twoVmPlan())), expected);
  });

  it("keeps VMs apart: own address in 192.168.56.0/21, SSH port, MACs; destroy powers off, unregisters, deletes", () => {
    const { vms } = twoVmPlan();
    assert.deepEqual(
      vms.map(({ vm: planned }) => [planned.ipv4Address, planned.sshPort]),
      [
        ["192.168.56.10", 2222],
        ["192.168.56.11", 2223],
      ],
    );
    for (const { vm: planned } of vms) {
      assert.ok(cidrContains("192.168.56.0/21", `${planned.ipv4Address}/32`));
    }
    assert.equal(
      new Set(vms.flatMap(({ vm: p }) => [p.natMacAddress, p.hostOnlyMacAddress])).size,
      4,
    );
    const verbs = vms[0].destroy.map((step) =>
      step.kind === "vboxmanage" ? step.args.slice(0, 1).join(" ") : step.kind,
    );
    assert.deepEqual(verbs, ["controlvm", "unregistervm", "closemedium", "remove-path"]);
    assert.deepEqual(
      vms[0].create.map((step) => (step.kind === "vboxmanage" ? step.args[0] : step.kind)),
      ["seed-iso", "import", "modifyvm", "storageattach", "startvm", "wait-for-ssh"],
    );
  });

  it("refuses clearly when VBoxManage is missing, before touching anything", async () => {
    const empty = fs.mkdtempSync(path.join(scratch, "empty-"));
    assert.throws(
      () => cli.findVBoxManage({ PATH: empty }),
      (error: Error) =>
        error instanceof cli.VBoxManageMissingError &&
        error.message.includes(`searched PATH: ${empty}`) &&
        /install VirtualBox 6\.1\.28 or newer/.test(error.message) &&
        /DOCKFLEET_VBOXMANAGE/.test(error.message),
    );
    const { vms } = twoVmPlan();
    const inputs = {
      vm: vms[0].vm,
      config: vboxConfig({ image: "/srv/images/debian-12-cloud.ova" }),
      authorizedKey: AUTHORIZED_KEY,
      logUrn: "",
    };
    await withPath([empty], async () => {
      await assert.rejects(
        vm.virtualBoxVmProvider.check!(inputs, inputs),
        cli.VBoxManageMissingError,
      );
      await assert.rejects(vm.virtualBoxVmProvider.create(inputs), cli.VBoxManageMissingError);
      await assert.rejects(
        vm.virtualBoxVmProvider.delete!("x", inputs),
        cli.VBoxManageMissingError,
      );
    });
  });

  it("runs the plan's VBoxManage commands in order (a recording VBoxManage on PATH)", async () => {
    const bin = fs.mkdtempSync(path.join(scratch, "bin-"));
    const log = path.join(scratch, "vboxmanage.log");
    // A stand-in that records its arguments; `list hostonlyifs` reports no interface at first.
    fs.writeFileSync(
      path.join(bin, "VBoxManage"),
      `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >> ${JSON.stringify(log)}\n` +
        `if [[ "$1 $2" == "list hostonlyifs" ]] && grep -q '^hostonlyif create' ${JSON.stringify(log)}; then echo "Name:            vboxnet0"; fi\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(bin, "genisoimage"),
      `#!/usr/bin/env bash\nwhile [[ $# -gt 0 ]]; do if [[ $1 == -output ]]; then touch "$2"; fi; shift; done\n`,
      { mode: 0o755 },
    );
    const sshd = net.createServer((socket) => socket.end("SSH-2.0-OpenSSH_9.2 fake\r\n"));
    await new Promise<void>((resolve) => sshd.listen(0, "127.0.0.1", resolve));
    const port = (sshd.address() as net.AddressInfo).port;
    try {
      const settings = vboxConfig({
        image: "/srv/images/debian-12-cloud.ova",
        workDir: path.join(scratch, "work"),
        sshPortBase: port,
      });
      const [planned] = plan.planVirtualBoxVms({
        stack: "rec",
        count: 1,
        namePrefix: "host",
        config: settings,
      });
      const inputs = { vm: planned, config: settings, authorizedKey: AUTHORIZED_KEY, logUrn: "" };
      await withPath([bin, "/usr/bin", "/bin"], async () => {
        const network = { config: settings, logUrn: "" };
        await vm.virtualBoxHostOnlyNetworkProvider.create(network);
        const created = await vm.virtualBoxVmProvider.create(inputs);
        assert.equal(created.id, "dockfleet-rec-host-1");
        assert.ok(fs.existsSync(planned.seedIsoPath));
        await vm.virtualBoxVmProvider.delete!(created.id, inputs);
      });
      assert.equal(fs.existsSync(path.dirname(planned.seedIsoPath)), false);
      const lines = fs.readFileSync(log, "utf8").trim().split("\n");
      const name = "dockfleet-rec-host-1";
      assert.deepEqual(lines, [
        "list hostonlyifs",
        "hostonlyif create",
        "list hostonlyifs",
        "hostonlyif ipconfig vboxnet0 --ip 192.168.56.1 --netmask 255.255.255.0",
        // create first clears what an interrupted run may have left
        `controlvm ${name} poweroff`,
        `unregistervm ${name} --delete`,
        `closemedium dvd ${planned.seedIsoPath}`,
        `import /srv/images/debian-12-cloud.ova --vsys 0 --vmname ${name} --basefolder ${settings.workDir}`,
        `modifyvm ${name} --memory 2048 --cpus 2 --nic1 nat --macaddress1 ${planned.natMacAddress} ` +
          `--natdnshostresolver1 on --natpf1 ssh,tcp,127.0.0.1,${port},,22 --nic2 hostonly ` +
          `--hostonlyadapter2 vboxnet0 --macaddress2 ${planned.hostOnlyMacAddress}`,
        `storageattach ${name} --storagectl SATA Controller --port 1 --device 0 --type dvddrive --medium ${planned.seedIsoPath}`,
        `startvm ${name} --type headless`,
        `controlvm ${name} poweroff`,
        `unregistervm ${name} --delete`,
        `closemedium dvd ${planned.seedIsoPath}`,
      ]);
    } finally {
      sshd.close();
    }
  });

  it("hands every VM to DockerEngine with its host-only address, SSH through the NAT forward (mocks)", async () => {
    const environment = await deployEnvironment("vb", {
      driver: "virtualbox",
      hosts: 2,
      virtualbox: { image: "boxes/debian.ova" },
    });
    const vms = resourcesOf(dynamicType("VirtualBoxVm"), "vb");
    assert.equal(vms.length, 2);
    assert.equal(
      (vms[0].inputs.config as { image: string }).image,
      path.resolve(process.cwd(), "boxes/debian.ova"),
    );
    assert.equal(resourcesOf(dynamicType("VirtualBoxHostOnlyNetwork"), "vb").length, 1);
    for (const [index, engine] of environment.engines.entries()) {
      const address = `192.168.56.${10 + index}`;
      assert.equal(await valueOf(engine.machine.privateAddress), address);
      assert.equal(await valueOf(engine.dockerHost), `tcp://${address}:2376`);
      const ssh = await valueOf(engine.machine.ssh);
      assert.deepEqual([ssh.host, ssh.port, ssh.user], ["127.0.0.1", 2222 + index, "root"]);
      const [sshHost] = resourcesOf(dynamicType("SshHost"), `vb-machines-host-${index + 1}-ssh`);
      assert.equal(secretInput<{ port: number }>(sshHost.inputs.connection).port, 2222 + index);
    }
  });

  it("accepts the example stack stacks/Pulumi.vbox.yaml", async () => {
    const { resolveStackConfig: resolve } = await import("../../components/stack/config");
    const config = resolve(readStackFile(`${__dirname}/../../stacks/Pulumi.vbox.yaml`));
    assert.equal(config.driver, "virtualbox");
    assert.equal(config.virtualbox?.hostOnlyCidr, "192.168.56.0/24");
  });
});
