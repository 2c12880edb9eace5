import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDnsName, isIpAddress } from "../../provision/config/addresses";
import { splitSubjectAltNames } from "../../provision/pki/subject-alt-names";
import { resolveStackConfig } from "../../components/stack/config";
import { requirePrivateIpAddress } from "../../components/machines/machine";
import { sshPrivateAddressIssues } from "../../components/stack/checks";
import { ConfigError } from "../../provision/config/errors";
import { stackConfig } from "./fixtures/pulumi-mocks";

/**
 * A host's address may be an IP address or a DNS name: which is which decides the certificate's
 * SANs, and where a service binds to the private address, a name is refused before anything is
 * created (the refused configs and their exact errors are rows of bad-config-cases.ts).
 */

describe("host addresses: IP address or DNS name", () => {
  it("tells IP addresses (v4 and v6, without brackets) from everything else", () => {
    for (const address of ["10.0.0.5", "203.0.113.7", "::1", "2001:db8::5"]) {
      assert.equal(isIpAddress(address), true, address);
    }
    for (const other of ["web-1.example.com", "[2001:db8::5]", "10.0.0.5:22", "10.0.0", ""]) {
      assert.equal(isIpAddress(other), false, other);
    }
  });

  it("accepts DNS names a certificate can carry, and nothing a resolver reads as an address", () => {
    for (const name of [
      "web-1",
      "web-1.example.com",
      "WEB-1.Example.COM",
      "1host.example",
      "a.b2",
    ]) {
      assert.equal(isDnsName(name), true, name);
    }
    const tooLongLabel = `${"a".repeat(64)}.example.com`;
    const tooLong = Array.from({ length: 64 }, () => "abc").join(".");
    for (const bad of [
      "web_1.example.com",
      "-web.example.com",
      "web-.example.com",
      "web..example.com",
      "web.example.com.",
      "10.0.0.256",
      "10.0.0",
      "*.example.com",
      "[2001:db8::5]",
      "web 1",
      "",
      tooLongLabel,
      tooLong,
    ]) {
      assert.equal(isDnsName(bad), false, bad);
    }
  });

  it("splits a host's addresses and names into IP SANs and DNS SANs, each once, in order", () => {
    assert.deepEqual(
      splitSubjectAltNames(["web-1.example.com", "10.0.0.5", "127.0.0.1", "web-1", "localhost"]),
      {
        ipAddresses: ["10.0.0.5", "127.0.0.1"],
        dnsNames: ["web-1.example.com", "web-1", "localhost"],
      },
    );
    assert.deepEqual(splitSubjectAltNames(["10.0.0.5", "10.0.0.5", "2001:db8::5"]), {
      ipAddresses: ["10.0.0.5", "2001:db8::5"],
      dnsNames: [],
    });
  });
});

describe("ssh hosts whose private address is a DNS name", () => {
  const check = (settings: Record<string, unknown>) =>
    sshPrivateAddressIssues(resolveStackConfig(stackConfig({ driver: "ssh", ...settings })));

  it("are accepted where no service binds to the private address", () => {
    assert.deepEqual(check({ sshHosts: [{ name: "web-1", address: "web-1.example.com" }] }), []);
    assert.deepEqual(
      check({
        sshHosts: [
          { name: "web-1", address: "10.0.0.1" },
          { name: "web-2", address: "web-2.example.com" },
        ],
        // The member, the registry and the only swarm node are web-1; web-2 runs Docker alone.
        etcd: { enabled: true, members: 1 },
        registry: { enabled: true },
        swarm: { enabled: true, hosts: ["web-1"] },
      }),
      [],
    );
  });

  it("are accepted with every service when the name is only the public address", () => {
    assert.deepEqual(
      check({
        sshHosts: [{ name: "web-1", address: "web-1.example.com", privateAddress: "10.0.0.1" }],
        etcd: { enabled: true, members: 1, dockerClusterStore: true },
        registry: { enabled: true },
        swarm: { enabled: true },
      }),
      [],
    );
  });

  it("are refused on every host that carries such a service, naming the key and the services", () => {
    assert.throws(
      () =>
        check({
          sshHosts: [
            { name: "web-1", address: "web-1.example.com" },
            { name: "web-2", address: "10.0.0.2", privateAddress: "web-2.internal" },
            { name: "web-3", address: "web-3.example.com" },
          ],
          etcd: { enabled: true, members: ["web-1", "web-2"] },
          swarm: { enabled: true, hosts: ["web-1"] },
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(
          error.problems.map((problem) =>
            problem.match(/^\S+ = "[^"]+"|the swarm.*? on web-\d|etcd on web-\d/g),
          ),
          [
            ['dockfleet:sshHosts[0].address = "web-1.example.com"', "the swarm and etcd on web-1"],
            ['dockfleet:sshHosts[1].privateAddress = "web-2.internal"', "etcd on web-2"],
          ],
        );
        return true;
      },
    );
  });
});

describe("requirePrivateIpAddress: what the swarm, etcd and the registry bind to", () => {
  it("is the machine's private address when it is an IP address", () => {
    assert.equal(requirePrivateIpAddress("web", "etcd", "10.0.0.5"), "10.0.0.5");
  });

  it("fails naming the machine, the service and the name for a DNS name", () => {
    assert.throws(
      () => requirePrivateIpAddress("web", "the swarm", "web.internal"),
      /^Error: web: the swarm needs the host's private address as an IP address, and it is the DNS name "web.internal": give the machine its IP address as privateAddress$/,
    );
  });
});
