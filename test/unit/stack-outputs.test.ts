import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
  parseOutputMap,
  parseStackOutputs,
  StackOutputsError,
  type StackOutputs,
} from "../../components/stack/outputs";
import { installHostMocks } from "./fixtures/host-mocks";

/**
 * The stack outputs' one declaration (components/stack/outputs.ts): what the parse reports, and
 * that the program's outputs, resolved under Pulumi mocks, are what it declares.
 */

before(() => {
  installHostMocks();
});

const valid: StackOutputs = {
  hosts: [
    {
      name: "host-1",
      driver: "local",
      address: "172.30.10.10",
      privateAddress: "172.30.10.10",
      dockerHost: "tcp://172.30.10.10:2376",
      dockerVersion: "20.10.24",
      sshUser: "root",
      sshPort: 22,
      hostKey: "ssh-ed25519 AAAAkey",
      sshCommand: "ssh -i .dockfleet/unit/id_ed25519 -p 22 root@172.30.10.10",
    },
  ],
  dockerTls: { caPem: "CA", certPem: "CERT", keyPem: "KEY" },
  sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----",
  swarmManager: {
    name: "host-1",
    address: "172.30.10.10:2377",
    nodes: [{ name: "host-1", role: "manager", availability: "active", nodeId: "n1" }],
  },
  apps: { counter: "http://172.30.10.10:8000/" },
};

describe("stack outputs", () => {
  it("parse what `pulumi stack output --json` prints and what the Automation API returns", () => {
    assert.deepEqual(parseStackOutputs(JSON.parse(JSON.stringify(valid))), valid);
    const map = Object.fromEntries(
      Object.entries(valid).map(([name, value]) => [name, { value, secret: false }]),
    );
    assert.deepEqual(parseOutputMap(map), valid);
    assert.deepEqual(
      parseStackOutputs({ ...valid, somethingNewer: 1 }),
      valid,
      "outputs it does not know are dropped",
    );
  });

  it("name every missing or malformed field, without quoting values", () => {
    const { dockerTls: _dropped, ...withoutTls } = valid;
    const broken = {
      ...withoutTls,
      hosts: [{ ...valid.hosts[0], hostKey: "", sshPort: "22", sshUser: undefined }],
      privateRegistry: { url: "10.0.0.5:5000", username: "fleet" },
    };
    assert.throws(
      () => parseStackOutputs(broken),
      (error: unknown) => {
        assert.ok(error instanceof StackOutputsError);
        assert.deepEqual(error.problems.slice().sort(), [
          "dockerTls: missing",
          "hosts[0].hostKey: Too small: expected string to have >=1 characters",
          "hosts[0].sshPort: Invalid input: expected number, received string",
          "hosts[0].sshUser: missing",
          "privateRegistry.password: missing",
        ]);
        assert.match(error.message, /^the stack's outputs are not what dockfleet expects:\n {2}- /);
        return true;
      },
    );
    assert.throws(() => parseStackOutputs(undefined), /\(the outputs\): missing/);
    assert.throws(() => parseStackOutputs({ ...valid, hosts: [] }), /hosts: Too small/);
  });

  it("the program's outputs, resolved, are what the declaration says", async () => {
    pulumi.runtime.setAllConfig({ "dockfleet:hosts": "2" });
    process.env.DOCKFLEET_HOST_IMAGE = "dockfleet/host:test";
    const { dockfleetProgram } = await import("../../components/stack/program");
    const program = dockfleetProgram();
    const resolved = await new Promise<unknown>((resolve) =>
      pulumi.output(program).apply((value) => resolve(value)),
    );
    const outputs = parseStackOutputs(resolved);
    assert.deepEqual(
      outputs.hosts.map((host) => [host.name, host.address, host.sshPort, host.hostKey]),
      [
        ["host-1", "172.30.10.10", 22, "ssh-ed25519 AAAAmock"],
        ["host-2", "172.30.10.11", 22, "ssh-ed25519 AAAAmock"],
      ],
    );
    assert.equal(
      outputs.hosts[1].sshCommand,
      `ssh -i .dockfleet/unit/id_ed25519 -p 22 ${outputs.hosts[1].sshUser}@172.30.10.11`,
    );
    assert.equal(outputs.etcd, undefined, "etcd is off by default");
    assert.deepEqual(outputs.apps, { counter: undefined, wordpress: undefined });
    assert.equal(await pulumi.isSecret(pulumi.output(program.sshPrivateKey)), true);
  });
});
