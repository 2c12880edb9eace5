import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { renderKnownHostsLine } from "../../cli/client-files";
import { renderSshArgs } from "../../cli/ssh";
import { renderSshConfig } from "../../cli/ssh-config";
import { findHost, parseNamedStackOutputs } from "../../cli/stack-outputs";

const files = {
  identityFile: "/srv/dockfleet/.dockfleet/dev/id_ed25519",
  knownHostsFile: "/srv/dockfleet/.dockfleet/dev/known_hosts",
};

describe("dockfleet ssh and ssh-config", () => {
  it("pins host keys by address, with the port when it is not 22", () => {
    assert.equal(
      renderKnownHostsLine("172.30.80.10", 22, "ssh-ed25519 AAAAkey root@host-1\n"),
      "172.30.80.10 ssh-ed25519 AAAAkey",
    );
    assert.equal(
      renderKnownHostsLine("10.0.0.5", 2222, "ssh-ed25519 AAAAkey"),
      "[10.0.0.5]:2222 ssh-ed25519 AAAAkey",
    );
    assert.throws(
      () => renderKnownHostsLine("10.0.0.5", 22, "garbage"),
      /not an OpenSSH public key: "garbage"/,
    );
  });

  it("runs ssh with only the pinned key accepted and the remote command after --", () => {
    const args = renderSshArgs(
      { user: "root", port: 22, address: "172.30.80.10" },
      { identityFile: "/tmp/x/id", knownHostsFile: "/tmp/x/known_hosts" },
      ["-la", "/"],
    );
    assert.deepEqual(args.slice(-8), ["-p", "22", "-l", "root", "172.30.80.10", "--", "-la", "/"]);
    const options = args.filter((_, index) => args[index - 1] === "-o");
    assert.ok(options.includes("StrictHostKeyChecking=yes"));
    assert.ok(options.includes("UserKnownHostsFile=/tmp/x/known_hosts"));
    assert.ok(options.includes("GlobalKnownHostsFile=/dev/null"));
    assert.ok(options.includes("IdentitiesOnly=yes"));
  });

  it("renders a config block per host that OpenSSH reads as intended", () => {
    const config = renderSshConfig(
      [
        { alias: "host-1", address: "172.30.80.10", user: "root", port: 22 },
        { alias: "host-2", address: "172.30.80.11", user: "admin", port: 2222 },
      ],
      files,
    );
    assert.match(
      config,
      /^Host host-1\n {2}HostName 172\.30\.80\.10\n {2}User root\n {2}Port 22\n/,
    );
    assert.match(
      config,
      /\n\nHost host-2\n {2}HostName 172\.30\.80\.11\n {2}User admin\n {2}Port 2222\n/,
    );
    // `ssh -G` prints the configuration OpenSSH would use, without connecting.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-sshcfg-"));
    fs.writeFileSync(path.join(dir, "config"), config);
    const effective = execFileSync("ssh", ["-F", path.join(dir, "config"), "-G", "host-2"], {
      encoding: "utf8",
    });
    for (const line of [
      "hostname 172.30.80.11",
      "user admin",
      "port 2222",
      "stricthostkeychecking true",
      `userknownhostsfile ${files.knownHostsFile}`,
      `identityfile ${files.identityFile}`,
    ]) {
      assert.ok(effective.split("\n").includes(line), `ssh -G shows "${line}"`);
    }
  });

  it("names the missing outputs of an older stack and the host names when one is unknown", () => {
    // What a stack brought up before the CLI existed has: no SSH login nor pinned host key.
    const older = {
      hosts: [
        {
          name: "host-1",
          driver: "local",
          address: "172.30.80.10",
          privateAddress: "172.30.80.10",
          dockerHost: "tcp://172.30.80.10:2376",
          dockerVersion: "20.10.24",
          sshCommand: "ssh -i .dockfleet/dev/id_ed25519 -p 22 root@172.30.80.10",
        },
      ],
      dockerTls: { caPem: "CA", certPem: "CERT", keyPem: "KEY" },
      sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----",
      apps: {},
    };
    assert.throws(
      () => parseNamedStackOutputs("dev", older),
      (error: Error) => {
        assert.match(error.message, /^stack "dev": the stack's outputs are not what dockfleet/);
        for (const field of ["sshUser", "sshPort", "hostKey"]) {
          assert.match(error.message, new RegExp(`\\n  - hosts\\[0\\]\\.${field}: missing\\n`));
        }
        assert.match(error.message, /run `bin\/up dev` with this version of dockfleet/);
        return true;
      },
    );
    const outputs = parseNamedStackOutputs("dev", {
      ...older,
      hosts: [{ ...older.hosts[0], sshUser: "root", sshPort: 22, hostKey: "ssh-ed25519 AAAAkey" }],
    });
    assert.throws(
      () => findHost(outputs, "host-9"),
      /no host named "host-9" in stack "dev" \(hosts: host-1\)/,
    );
    assert.throws(
      () => parseNamedStackOutputs("new", {}),
      /stack "new" has no hosts in its outputs: bring it up with `bin\/up new`/,
    );
  });
});
