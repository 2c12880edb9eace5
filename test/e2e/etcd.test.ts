import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { EtcdCluster } from "../../components/etcd";
import { LocalMachines } from "../../components/machines/local/local-machines";
import { localResourceNames } from "../../components/machines/local/run-args";
import { SshKeyPair } from "../../provision/ssh/key-pair";
import {
  assertNothingLabelled,
  docker,
  requireHostImage,
  runCommand,
  waitFor,
} from "../helpers/docker";
import {
  assertNothingChanged,
  changeCounts,
  removeStackCompletely,
  stepTimer,
  upPrintingOutput,
} from "../helpers/stack";

/**
 * EtcdCluster for real: four local hosts (system containers), an etcd cluster on the first three
 * through the real Pulumi CLI (Automation API, inline program), then the faults and changes the
 * issue names: another member's read, a client without a certificate, a stopped member, a host
 * restart, a fourth member added and removed again (also with its host stopped), a second `up`
 * and `destroy`; and the trust domains: a peer key is no client, a client key is no peer, a
 * removed member's keys are revoked, and both CAs rotate on the running cluster.
 */

const STACK = `etcd${process.pid}`;
const SUBNET = "172.30.40.0/24";
const HOSTS = 4;

interface Outputs {
  endpoints: string[];
  memberNames: string[];
}

/** What the program builds; the test changes memberCount between runs. */
const wanted = { memberCount: 3 };

function program(hostImage: string) {
  return async () => {
    const keyPair = new SshKeyPair("ssh-key", { comment: `dockfleet-${STACK}` });
    const machines = new LocalMachines("machines", {
      stack: STACK,
      count: HOSTS,
      namePrefix: "host",
      subnet: SUBNET,
      image: hostImage,
      sshKey: { publicKey: keyPair.publicKey, privateKey: keyPair.privateKey },
    }).machines;
    const etcd = new EtcdCluster("etcd", {
      machines,
      config: { members: wanted.memberCount, healthTimeoutSeconds: 120 },
    });
    return {
      endpoints: etcd.endpoints,
      memberNames: etcd.memberNames,
      caPem: etcd.caPem,
      clientCertPem: etcd.clientCertPem,
      clientKeyPem: etcd.clientKeyPem,
      stack: pulumi.getStack(),
    };
  };
}

describe("EtcdCluster on local hosts", { timeout: 20 * 60_000 }, () => {
  let stack: Stack;
  let outputs: Outputs;
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-etcd-certs-"));
  const { timings, timed } = stepTimer();

  /** etcdctl on this machine (Debian's etcd-client) against the given endpoints. */
  const etcdctl = (endpoints: string[], args: string[], withCertificate = true) =>
    runCommand(
      "etcdctl",
      [
        `--endpoints=${endpoints.join(",")}`,
        `--cacert=${certDir}/ca.pem`,
        ...(withCertificate ? [`--cert=${certDir}/cert.pem`, `--key=${certDir}/key.pem`] : []),
        "--dial-timeout=3s",
        "--command-timeout=5s",
        ...args,
      ],
      { timeoutMs: 30_000 },
    );
  const etcdctlOk = async (endpoints: string[], args: string[]) => {
    const result = await etcdctl(endpoints, args);
    assert.equal(result.code, 0, `etcdctl ${args.join(" ")} failed:\n${result.stderr}`);
    return result.stdout;
  };
  /** The value of KEY read through one member (etcdctl get --print-value-only), trimmed. */
  const valueAt = async (endpoint: string, key: string) =>
    (await etcdctlOk([endpoint], ["get", "--print-value-only", key])).trim();
  const memberNames = async () =>
    (await etcdctlOk(outputs.endpoints, ["member", "list"]))
      .trim()
      .split("\n")
      .map((line) => line.split(", ")[2])
      .sort();
  const container = (host: string) => localResourceNames(STACK, host).container;
  const up = async (what: string, replace?: string[]) => {
    const result = await timed(what, () => upPrintingOutput(stack, { replace }));
    outputs = {
      endpoints: result.outputs.endpoints.value as string[],
      memberNames: result.outputs.memberNames.value as string[],
    };
    return result;
  };

  before(async () => {
    const hostImage = requireHostImage();
    stack = await LocalWorkspace.createOrSelectStack({
      stackName: STACK,
      projectName: "dockfleet-etcd-test",
      program: program(hostImage),
    });
  });

  after(async () => {
    await removeStackCompletely(stack, STACK);
    fs.rmSync(certDir, { recursive: true, force: true });
    console.log(`etcd test timings (s): ${JSON.stringify(timings)}`);
  });

  it("brings up three healthy members with TLS and a secret client key", async () => {
    const result = await up("first up");
    assert.deepEqual(outputs.memberNames, ["host-1", "host-2", "host-3"]);
    assert.deepEqual(outputs.endpoints, [
      "https://172.30.40.10:2379",
      "https://172.30.40.11:2379",
      "https://172.30.40.12:2379",
    ]);
    assert.equal(result.outputs.clientKeyPem.secret, true);
    fs.writeFileSync(path.join(certDir, "ca.pem"), result.outputs.caPem.value as string);
    fs.writeFileSync(path.join(certDir, "cert.pem"), result.outputs.clientCertPem.value as string);
    fs.writeFileSync(path.join(certDir, "key.pem"), result.outputs.clientKeyPem.value as string, {
      mode: 0o600,
    });
    const health = await etcdctl(outputs.endpoints, ["endpoint", "health"]);
    assert.equal(health.code, 0, health.stderr);
    assert.equal(`${health.stdout}${health.stderr}`.match(/is healthy/g)?.length, 3);
    assert.deepEqual(await memberNames(), ["host-1", "host-2", "host-3"]);
    // Installed from the distribution's package, enabled as a systemd service.
    const enabled = await docker(["exec", container("host-2"), "systemctl", "is-enabled", "etcd"]);
    assert.equal(enabled.trim(), "enabled");
  });

  it("reads through one member what was written through another", async () => {
    await etcdctlOk([outputs.endpoints[0]], ["put", "/dockfleet/greeting", "written via host-1"]);
    assert.equal(await valueAt(outputs.endpoints[2], "/dockfleet/greeting"), "written via host-1");
  });

  it("refuses a client without a certificate", async () => {
    const result = await etcdctl([outputs.endpoints[1]], ["get", "/dockfleet/greeting"], false);
    assert.notEqual(result.code, 0, `a client without a certificate got: ${result.stdout}`);
    assert.doesNotMatch(result.stdout, /written via host-1/);
  });

  it("still takes writes with one member stopped", async () => {
    await docker(["exec", container("host-3"), "systemctl", "stop", "etcd"]);
    try {
      await etcdctlOk(outputs.endpoints.slice(0, 2), ["put", "/dockfleet/degraded", "yes"]);
      assert.equal(await valueAt(outputs.endpoints[1], "/dockfleet/degraded"), "yes");
      const stopped = await etcdctl([outputs.endpoints[2]], ["endpoint", "health"]);
      assert.notEqual(stopped.code, 0, "the stopped member still answers");
    } finally {
      await docker(["exec", container("host-3"), "systemctl", "start", "--no-block", "etcd"]);
    }
  });

  it("comes back by itself after its host restarts", async () => {
    await timed("host restart until healthy", async () => {
      await docker(["restart", container("host-2")]);
      await waitFor(
        "host-2's etcd member to be healthy again",
        async () =>
          (await etcdctl([outputs.endpoints[1]], ["endpoint", "health"])).code === 0 || undefined,
        120_000,
        1000,
      );
    });
    assert.equal(await valueAt(outputs.endpoints[1], "/dockfleet/degraded"), "yes");
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await up("second up (no changes)"));
  });

  /**
   * Keeps a copy of a member's TLS files (etcd's own, 0600), as someone who took them would: in
   * certDir, prefixed by its name, and on its host under /root/kept-keys (the removal wipes /etc/etcd/pki).
   */
  const copyMemberKeys = async (host: string) => {
    for (const file of ["member.pem", "member-key.pem"]) {
      const content = await docker(["exec", container(host), "cat", `/etc/etcd/pki/${file}`]);
      fs.writeFileSync(path.join(certDir, `${host}-${file}`), content, { mode: 0o600 });
    }
    await docker(["exec", container(host), "cp", "-a", "/etc/etcd/pki/.", "/root/kept-keys"]);
  };
  /**
   * Whether a member's key (its client side "member" or its "peer" one) opens a port of the
   * member at `at`. The peer port is tried from the key's own host: etcd checks that a peer's
   * certificate names the address it connects from.
   */
  const opens = async (
    owner: string,
    key: "member" | "peer",
    port: "client" | "peer",
    at: string,
  ) => {
    if (port === "client") {
      const file = (name: string) => path.join(certDir, `${owner}-${name}`);
      const result = await runCommand(
        "etcdctl",
        [
          `--endpoints=${at}`,
          `--cacert=${certDir}/ca.pem`,
          `--cert=${file(`${key}.pem`)}`,
          `--key=${file(`${key}-key.pem`)}`,
          "--dial-timeout=3s",
          "--command-timeout=5s",
          "get",
          "/dockfleet/greeting",
        ],
        { timeoutMs: 30_000 },
      );
      return result.code === 0;
    }
    const kept = "/root/kept-keys";
    const answer = await docker([
      "exec",
      container(owner),
      "sh",
      "-c",
      `curl -sS --http1.1 --max-time 5 --cacert ${kept}/peer-ca.pem --cert ${kept}/${key}.pem ` +
        `--key ${kept}/${key}-key.pem ${at.replace(/:2379$/, ":2380")}/version || true`,
    ]);
    return /etcdserver/.test(answer);
  };

  it("keeps each key to its own door: 0600 keys, a peer key is no client, a client key no peer", async () => {
    const modes = await docker([
      "exec",
      container("host-1"),
      "stat",
      "-c",
      "%n %a %U",
      "/etc/etcd/pki/member-key.pem",
      "/etc/etcd/pki/peer-key.pem",
    ]);
    assert.equal(
      modes.trim(),
      "/etc/etcd/pki/member-key.pem 600 etcd\n/etc/etcd/pki/peer-key.pem 600 etcd",
    );
    await copyMemberKeys("host-1");
    const other = outputs.endpoints[1];
    assert.equal(
      await opens("host-1", "member", "client", other),
      true,
      "member key on client port",
    );
    assert.equal(await opens("host-1", "peer", "peer", other), true, "peer key on the peer port");
    assert.equal(await opens("host-1", "peer", "client", other), false, "peer key on client port");
    assert.equal(await opens("host-1", "member", "peer", other), false, "member key on peer port");
  });

  it("adds a fourth member through up, then removes it again", async () => {
    wanted.memberCount = 4;
    let counts = changeCounts(await up("add a member"));
    assert.equal(counts.delete, undefined, JSON.stringify(counts));
    assert.equal(counts.replace, undefined, JSON.stringify(counts));
    assert.deepEqual(await memberNames(), ["host-1", "host-2", "host-3", "host-4"]);
    const health = await etcdctl(outputs.endpoints, ["endpoint", "health"]);
    assert.equal(`${health.stdout}${health.stderr}`.match(/is healthy/g)?.length, 4);
    assert.equal(
      await valueAt(outputs.endpoints[3], "/dockfleet/greeting"),
      "written via host-1",
      "the new member has the cluster's data",
    );

    // Its keys, as someone who kept a copy of them would have them after it left.
    await copyMemberKeys("host-4");
    assert.equal(await opens("host-4", "member", "client", outputs.endpoints[0]), true);
    assert.equal(await opens("host-4", "peer", "peer", outputs.endpoints[0]), true);

    wanted.memberCount = 3;
    counts = changeCounts(await up("remove a member"));
    assert.equal(counts.create, undefined, JSON.stringify(counts));
    assert.deepEqual(await memberNames(), ["host-1", "host-2", "host-3"]);
    // Revoked: the members that remain refuse both of the removed member's keys.
    for (const endpoint of outputs.endpoints) {
      assert.equal(await opens("host-4", "member", "client", endpoint), false, `${endpoint}`);
      assert.equal(await opens("host-4", "peer", "peer", endpoint), false, `${endpoint} (peer)`);
    }
    assert.equal(await opens("host-1", "member", "client", outputs.endpoints[1]), true);
    const left = await docker([
      "exec",
      container("host-4"),
      "sh",
      "-c",
      "systemctl is-active etcd; ls -A /var/lib/etcd",
    ]).catch((error: Error) => error.message);
    assert.match(left, /inactive/, "the removed member's etcd is stopped");
    assert.doesNotMatch(left, /dockfleet/, "the removed member's data is wiped");
  });

  it("drops a member whose host went away when it is no longer planned", async () => {
    wanted.memberCount = 4;
    await up("add host-4 again");
    assert.deepEqual(await memberNames(), ["host-1", "host-2", "host-3", "host-4"]);
    // Its own delete cannot reach the host and skips it: the cluster's health check removes it.
    await docker(["stop", container("host-4")]);
    wanted.memberCount = 3;
    await up("remove the member of a stopped host");
    assert.deepEqual(await memberNames(), ["host-1", "host-2", "host-3"]);
    const health = await etcdctl(outputs.endpoints, ["endpoint", "health"]);
    assert.equal(`${health.stdout}${health.stderr}`.match(/is healthy/g)?.length, 3);
  });

  it("rotates both CAs on the running cluster in one up, keeping its data", async () => {
    const deployment = (await stack.exportStack()).deployment as { resources: { urn: string }[] };
    const cas = deployment.resources
      .map((resource) => resource.urn)
      .filter((urn) => /::etcd-(peer|client)-ca$/.test(urn));
    assert.equal(cas.length, 2, `the two etcd CAs in the state: ${cas.join(", ")}`);
    const result = await up("rotate the etcd CAs", cas);
    // The CAs, each member's two certificates, the operator's, and the CAs' revocation lists.
    const replaced = 2 + 2 * 3 + 1 + 2;
    assert.equal(changeCounts(result).replace, replaced, JSON.stringify(changeCounts(result)));
    // The operator's certificate from before is the old client CA's: refused now.
    fs.writeFileSync(path.join(certDir, "ca.pem"), result.outputs.caPem.value as string);
    const old = await etcdctl([outputs.endpoints[0]], ["get", "/dockfleet/greeting"]);
    assert.notEqual(old.code, 0, "the old CA's client certificate still opens etcd");
    fs.writeFileSync(path.join(certDir, "cert.pem"), result.outputs.clientCertPem.value as string);
    fs.writeFileSync(path.join(certDir, "key.pem"), result.outputs.clientKeyPem.value as string, {
      mode: 0o600,
    });
    const health = await etcdctl(outputs.endpoints, ["endpoint", "health"]);
    assert.equal(`${health.stdout}${health.stderr}`.match(/is healthy/g)?.length, 3);
    assert.equal(await valueAt(outputs.endpoints[2], "/dockfleet/greeting"), "written via host-1");
    assert.deepEqual(await memberNames(), ["host-1", "host-2", "host-3"]);
  });

  it("destroys everything it made", async () => {
    await timed("destroy", () => stack.destroy());
    await assertNothingLabelled(STACK);
  });
});
