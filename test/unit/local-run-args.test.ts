import assert from "node:assert/strict";
import { localHostImage } from "../../components/machines/local/local-machines";
import {
  machineDockerEnvironment,
  runMachineTool,
} from "../../components/machines/local/docker-cli";
import { describe, it } from "node:test";
import {
  HOST_CAPABILITIES,
  localNetworkName,
  localResourceNames,
  renderHostRunArgs,
  renderHostVolumeCreateArgs,
  renderNetworkCreateArgs,
} from "../../components/machines/local/run-args";

const example = {
  stack: "dev",
  name: "host-1",
  image: "dockfleet/host:0123456789abcdef",
  network: "dockfleet-dev",
  ipv4Address: "172.30.21.11",
};

describe("localResourceNames", () => {
  it("names container, volume and network from stack and host", () => {
    assert.deepEqual(localResourceNames("dev", "host-1"), {
      container: "dockfleet-dev-host-1",
      volume: "dockfleet-dev-host-1-docker",
      network: "dockfleet-dev",
    });
    assert.equal(localNetworkName("ci_2.a"), "dockfleet-ci_2.a");
  });

  for (const name of ["Host1", "-host", "host-", "host_1", "", "a".repeat(64), "host.1"]) {
    it(`rejects host name ${JSON.stringify(name)} with a hint`, () => {
      assert.throws(() => localResourceNames("dev", name), /is not a DNS label: use lowercase/);
    });
  }

  for (const stack of ["", "-dev", "dev/prod", "dev prod", "a".repeat(101)]) {
    it(`rejects stack name ${JSON.stringify(stack)}`, () => {
      assert.throws(() => localResourceNames(stack, "host-1"), /cannot name Docker objects/);
    });
  }
});

describe("renderHostRunArgs", () => {
  it("renders the full argument list after `docker run`", () => {
    assert.deepEqual(renderHostRunArgs(example), [
      "--detach",
      "--name=dockfleet-dev-host-1",
      "--hostname=host-1",
      "--network=dockfleet-dev",
      "--ip=172.30.21.11",
      "--cap-add=AUDIT_CONTROL",
      "--cap-add=AUDIT_READ",
      "--cap-add=AUDIT_WRITE",
      "--cap-add=BLOCK_SUSPEND",
      "--cap-add=CHOWN",
      "--cap-add=DAC_OVERRIDE",
      "--cap-add=DAC_READ_SEARCH",
      "--cap-add=FOWNER",
      "--cap-add=FSETID",
      "--cap-add=IPC_LOCK",
      "--cap-add=IPC_OWNER",
      "--cap-add=KILL",
      "--cap-add=LEASE",
      "--cap-add=LINUX_IMMUTABLE",
      "--cap-add=MAC_ADMIN",
      "--cap-add=MAC_OVERRIDE",
      "--cap-add=MKNOD",
      "--cap-add=NET_ADMIN",
      "--cap-add=NET_BIND_SERVICE",
      "--cap-add=NET_BROADCAST",
      "--cap-add=NET_RAW",
      "--cap-add=SETFCAP",
      "--cap-add=SETGID",
      "--cap-add=SETPCAP",
      "--cap-add=SETUID",
      "--cap-add=SYSLOG",
      "--cap-add=SYS_ADMIN",
      "--cap-add=SYS_BOOT",
      "--cap-add=SYS_CHROOT",
      "--cap-add=SYS_MODULE",
      "--cap-add=SYS_NICE",
      "--cap-add=SYS_PACCT",
      "--cap-add=SYS_PTRACE",
      "--cap-add=SYS_RAWIO",
      "--cap-add=SYS_TIME",
      "--cap-add=SYS_TTY_CONFIG",
      "--cap-add=WAKE_ALARM",
      "--security-opt=seccomp=unconfined",
      "--security-opt=apparmor=unconfined",
      "--device-cgroup-rule=a *:* rwm",
      "--cgroupns=host",
      "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
      "--tmpfs=/run",
      "--tmpfs=/run/lock",
      "--volume=dockfleet-dev-host-1-docker:/var/lib/docker",
      "--env=container=docker",
      "--stop-signal=SIGRTMIN+3",
      "--restart=unless-stopped",
      "--label=dockfleet.io/stack=dev",
      "--label=dockfleet.io/host=host-1",
      "--label=dockfleet.io/component=host",
      "dockfleet/host:0123456789abcdef",
    ]);
  });

  it("never asks for --privileged, SYS_RESOURCE or capabilities Docker 20.10 does not know", () => {
    const args = renderHostRunArgs(example);
    assert.ok(!args.includes("--privileged"));
    for (const capability of ["SYS_RESOURCE", "BPF", "PERFMON", "CHECKPOINT_RESTORE", "ALL"]) {
      assert.ok(!args.includes(`--cap-add=${capability}`), capability);
      assert.ok(!HOST_CAPABILITIES.includes(capability), capability);
    }
    assert.equal(new Set(HOST_CAPABILITIES).size, 37);
  });

  it("adds hostname, sorted extra labels, published ports and kernel modules where asked", () => {
    const args = renderHostRunArgs({
      ...example,
      hostname: "host-1.dev.example",
      labels: { "team.example/owner": "ops", "app.example/tier": "edge" },
      publish: [
        { containerPort: 2376, hostPort: 12376 },
        { containerPort: 53, hostPort: 1053, protocol: "udp", hostIp: "0.0.0.0" },
      ],
      kernelModulesDir: "/lib/modules",
    });
    assert.ok(args.includes("--hostname=host-1.dev.example"));
    assert.ok(args.includes("--volume=/lib/modules:/lib/modules:ro"));
    assert.deepEqual(
      args.filter((arg) => arg.startsWith("--publish=")),
      ["--publish=127.0.0.1:12376:2376/tcp", "--publish=0.0.0.0:1053:53/udp"],
    );
    assert.deepEqual(args.slice(-3), [
      "--label=app.example/tier=edge",
      "--label=team.example/owner=ops",
      "dockfleet/host:0123456789abcdef",
    ]);
  });

  it("does not mutate its input", () => {
    const spec = { ...example, labels: { b: "2", a: "1" } };
    const before = JSON.stringify(spec);
    renderHostRunArgs(spec);
    assert.equal(JSON.stringify(spec), before);
  });

  const invalid: Array<[string, Partial<typeof example> & Record<string, unknown>, RegExp]> = [
    [
      "an address that is not IPv4",
      { ipv4Address: "172.30.21.256" },
      /"172\.30\.21\.256" is not an IPv4/,
    ],
    [
      "an empty image",
      { image: " " },
      /has no image: pass the tag printed by bin\/lib\/host-image\.sh/,
    ],
    ["a network name with a slash", { network: "a/b" }, /network name "a\/b"/],
    ["an uppercase hostname", { hostname: "Host" }, /hostname "Host" of host host-1/],
    [
      "a reserved label",
      { labels: { "dockfleet.io/stack": "x" } },
      /"dockfleet\.io\/stack" on host host-1 is reserved/,
    ],
    [
      "a port out of range",
      { publish: [{ containerPort: 22, hostPort: 70000 }] },
      /published host port 70000/,
    ],
  ];
  for (const [what, change, message] of invalid) {
    it(`rejects ${what}`, () => {
      assert.throws(() => renderHostRunArgs({ ...example, ...change }), message);
    });
  }
});

describe("renderHostVolumeCreateArgs", () => {
  it("labels the volume like its container", () => {
    assert.deepEqual(renderHostVolumeCreateArgs({ stack: "dev", name: "host-1" }), [
      "volume",
      "create",
      "--label=dockfleet.io/stack=dev",
      "--label=dockfleet.io/host=host-1",
      "--label=dockfleet.io/component=host",
      "dockfleet-dev-host-1-docker",
    ]);
  });
});

describe("renderNetworkCreateArgs", () => {
  it("renders a labelled bridge network with the given subnet", () => {
    assert.deepEqual(renderNetworkCreateArgs({ stack: "dev", subnet: "172.30.21.0/24" }), [
      "network",
      "create",
      "--driver=bridge",
      "--subnet=172.30.21.0/24",
      "--label=dockfleet.io/stack=dev",
      "--label=dockfleet.io/component=network",
      "dockfleet-dev",
    ]);
  });

  it("renders an internal network, with no route out of this machine, when asked", () => {
    const args = renderNetworkCreateArgs({
      stack: "dev",
      subnet: "172.30.21.0/24",
      internal: true,
    });
    assert.equal(args.filter((arg) => arg === "--internal").length, 1);
    assert.ok(
      !renderNetworkCreateArgs({ stack: "dev", subnet: "172.30.21.0/24" }).includes("--internal"),
    );
  });

  for (const subnet of [
    "172.30.21.0",
    "172.30.21.0/30",
    "172.30.21.0/7",
    "172.30.21.0/24/1",
    "fd00::/64",
    "x/24",
  ]) {
    it(`rejects subnet ${JSON.stringify(subnet)}`, () => {
      assert.throws(() => renderNetworkCreateArgs({ stack: "dev", subnet }), /is not an IPv4 CIDR/);
    });
  }
});

describe("localHostImage", () => {
  const tags = { hostImage: "dockfleet/host:abc", dockerHostImage: "dockfleet/host-docker:def" };
  const local = (image: "base" | "docker") => ({
    subnet: "172.30.10.0/24",
    internal: false,
    image,
  });

  it("takes the image local.image names", () => {
    assert.equal(localHostImage({ local: local("base"), ...tags }), "dockfleet/host:abc");
    assert.equal(localHostImage({ local: local("docker"), ...tags }), "dockfleet/host-docker:def");
  });

  it("names the variable and the build command of a missing tag", () => {
    assert.throws(
      () => localHostImage({ local: local("docker"), hostImage: tags.hostImage }),
      /DOCKFLEET_DOCKER_HOST_IMAGE .*ensure_host_image docker/,
    );
    assert.throws(
      () => localHostImage({ local: local("base"), dockerHostImage: tags.dockerHostImage }),
      /DOCKFLEET_HOST_IMAGE to the tag printed by `source bin\/lib\/host-image.sh && ensure_host_image`/,
    );
  });
});

describe("machineDockerEnvironment", () => {
  it("sends dockfleet's own docker commands to this machine's engine, whatever `dockfleet env` set", () => {
    const pointedAtAHost = {
      PATH: "/usr/bin",
      DOCKER_HOST: "tcp://172.30.10.10:2376",
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: "/work/.dockfleet/local",
      DOCKER_CONTEXT: "dockfleet-local-host-1",
    };
    assert.deepEqual(machineDockerEnvironment(pointedAtAHost), {
      PATH: "/usr/bin",
      DOCKER_HOST: "unix:///var/run/docker.sock",
    });
    assert.equal(
      machineDockerEnvironment({
        ...pointedAtAHost,
        DOCKFLEET_MACHINE_DOCKER_HOST: "unix:///run/d.sock",
      }).DOCKER_HOST,
      "unix:///run/d.sock",
    );
  });
});

describe("runMachineTool", () => {
  it("hands onLine every stdout line, the last one without a newline too, and returns stdout", async () => {
    const lines: string[] = [];
    const stdout = await runMachineTool("sh", ["-c", 'printf "a\\nb"'], {
      onLine: (line) => lines.push(line),
    });
    assert.deepEqual(lines, ["a", "b"]);
    assert.equal(stdout, "a\nb");
  });

  it("fails naming the command, its exit code and the tail of its stderr", async () => {
    await assert.rejects(
      runMachineTool("sh", ["-c", "echo first >&2; echo last >&2; exit 3"]),
      (error: Error) => {
        assert.equal(
          error.message,
          "sh -c echo first >&2; echo last >&2; exit 3 failed (exit 3):\nfirst\nlast",
        );
        return true;
      },
    );
  });
});
