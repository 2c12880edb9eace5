import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  clientFilesDir,
  renderUpSummary,
  writeClientFiles,
  type ClientFiles,
} from "../../cli/client-files";
import type { NamedStackOutputs } from "../../cli/stack-outputs";

const outputs: NamedStackOutputs = {
  stack: "dev",
  hosts: [
    {
      name: "host-1",
      driver: "local",
      address: "172.30.80.10",
      privateAddress: "172.30.80.10",
      dockerHost: "tcp://172.30.80.10:2376",
      dockerVersion: "20.10.24",
      sshUser: "root",
      sshPort: 22,
      hostKey: "ssh-ed25519 AAAAone root@host-1\n",
      sshCommand: "ssh -i .dockfleet/dev/id_ed25519 -p 22 root@172.30.80.10",
    },
    {
      name: "web",
      driver: "ssh",
      address: "203.0.113.5",
      privateAddress: "10.0.0.5",
      dockerHost: "tcp://203.0.113.5:2376",
      dockerVersion: "20.10.24",
      sshUser: "admin",
      sshPort: 2222,
      hostKey: "ssh-ed25519 AAAAtwo",
      sshCommand: "ssh -i .dockfleet/dev/id_ed25519 -p 2222 admin@203.0.113.5",
    },
  ],
  dockerTls: { caPem: "CA", certPem: "CERT", keyPem: "KEY" },
  sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----",
  apps: {},
};

describe("client files: one place per stack", () => {
  it("are in the checkout's .dockfleet/<stack>, or under DOCKFLEET_HOME", () => {
    assert.equal(
      clientFilesDir("dev", "/srv/dockfleet", undefined),
      "/srv/dockfleet/.dockfleet/dev",
    );
    assert.equal(clientFilesDir("dev", "/srv/dockfleet", ""), "/srv/dockfleet/.dockfleet/dev");
    assert.equal(clientFilesDir("dev", "/srv/dockfleet", "/keys"), "/keys/dev");
    assert.throws(
      () => clientFilesDir("dev", "/srv/dockfleet", "keys"),
      /DOCKFLEET_HOME must be an absolute path, not "keys"/,
    );
    assert.equal(
      clientFilesDir("acme/dockfleet/dev", "/srv/dockfleet", undefined),
      "/srv/dockfleet/.dockfleet/acme/dockfleet/dev",
    );
  });

  it("refuse stack names that would land on the backend's state, its passphrase or outside", () => {
    for (const stack of ["state", "passphrase", "virtualbox", "state/x"]) {
      assert.throws(
        () => clientFilesDir(stack, "/srv/dockfleet", undefined),
        /dockfleet uses for something else: set DOCKFLEET_HOME to another folder/,
        stack,
      );
    }
    assert.equal(clientFilesDir("state", "/srv/dockfleet", "/keys"), "/keys/state");
    for (const stack of ["..", "a/../b", "", "/abs"]) {
      assert.throws(
        () => clientFilesDir(stack, "/srv/dockfleet", "/keys"),
        /cannot name a folder/,
        stack,
      );
    }
  });

  it("are written 0600 in a 0700 folder, replacing looser files, with every host's key pinned", () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-files-")), "dev");
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(dir, "key.pem"), "old", { mode: 0o644 });
    const files = writeClientFiles(outputs, dir);
    assert.deepEqual(files, {
      dir,
      sshKey: path.join(dir, "id_ed25519"),
      knownHosts: path.join(dir, "known_hosts"),
      ca: path.join(dir, "ca.pem"),
      cert: path.join(dir, "cert.pem"),
      key: path.join(dir, "key.pem"),
    } satisfies ClientFiles);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    const expected: [string, string][] = [
      [files.sshKey, `${outputs.sshPrivateKey}\n`],
      [
        files.knownHosts,
        "172.30.80.10 ssh-ed25519 AAAAone\n[203.0.113.5]:2222 ssh-ed25519 AAAAtwo\n",
      ],
      [files.ca, "CA"],
      [files.cert, "CERT"],
      [files.key, "KEY"],
    ];
    for (const [file, content] of expected) {
      assert.equal(fs.statSync(file).mode & 0o777, 0o600, file);
      assert.equal(fs.readFileSync(file, "utf8"), content, file);
    }
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      ["ca.pem", "cert.pem", "id_ed25519", "key.pem", "known_hosts"],
      "no temporary files left",
    );
    writeClientFiles(outputs, dir);
    assert.equal(fs.readdirSync(dir).length, 5, "a second write replaces the same files");
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("bin/up's summary points Docker at the folder written and ssh at the CLI", () => {
    const files = { dir: "/srv/dockfleet/.dockfleet/dev" } as ClientFiles;
    const text = renderUpSummary(
      { ...outputs, apps: { counter: "http://172.30.80.10:8000/" } },
      files,
    );
    assert.deepEqual(text.split("\n").slice(0, 3), [
      "HOST    ADDRESS       DOCKER_HOST              DOCKER",
      "host-1  172.30.80.10  tcp://172.30.80.10:2376  20.10.24",
      "web     203.0.113.5   tcp://203.0.113.5:2376   20.10.24",
    ]);
    assert.match(text, /\n\ncounter app {7}http:\/\/172\.30\.80\.10:8000\/\n/);
    assert.match(
      text,
      /\n {2}export DOCKER_HOST=tcp:\/\/172\.30\.80\.10:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=\/srv\/dockfleet\/\.dockfleet\/dev\n/,
    );
    assert.match(text, /\n {2}bin\/dockfleet ssh -s dev host-1\n$/);
  });
});
