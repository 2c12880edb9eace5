import assert from "node:assert/strict";
import * as https from "node:https";
import { after, before, describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { createCertificateAuthority, issueClientCertificate } from "../../provision/pki";
import { dockerExec, runCommand } from "../helpers/docker";
import {
  collectStateStrings,
  type HostOutput,
  openStack,
  readBackendFiles,
  removeStackCompletely,
  secretNeedles,
  upPrintingOutput,
  writeStackConfig,
} from "../helpers/stack";

/**
 * Security checks on a real local host: no secret in plain text in the backend's files, the
 * Docker API only for clients with a certificate from the environment's CA, SSH without
 * passwords, and dockfleet's key files readable by root only.
 */

const STACK = `e2esecurity${process.pid}`;
const SUBNET = "172.30.71.0/24";

interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** GET /version on the host's TLS API with the given client certificate (or none). */
function getVersion(
  host: HostOutput,
  caPem: string,
  client?: { certPem: string; keyPem: string },
): Promise<string> {
  const url = `${host.dockerHost.replace("tcp://", "https://")}/version`;
  return new Promise((resolve) => {
    https
      .get(
        url,
        { ca: caPem, cert: client?.certPem, key: client?.keyPem, timeout: 15_000 },
        (response) => {
          response.resume();
          resolve(`answered ${response.statusCode}`);
        },
      )
      .on("error", (error) => resolve(`refused: ${error.message}`))
      .on("timeout", () => resolve("timed out"));
  });
}

describe("security of a local environment", { timeout: 20 * 60_000 }, () => {
  let stack: Stack | undefined;
  let host: HostOutput;
  let tls: TlsMaterial;
  let sshPrivateKey: string;
  const container = localResourceNames(STACK, "host-1").container;

  before(async () => {
    writeStackConfig(STACK, { hosts: 1, local: { subnet: SUBNET } });
    stack = await openStack(STACK);
    const result = await upPrintingOutput(stack);
    [host] = result.outputs.hosts.value as HostOutput[];
    tls = result.outputs.dockerTls.value as TlsMaterial;
    assert.equal(result.outputs.sshPrivateKey.secret, true, "sshPrivateKey is a secret output");
    sshPrivateKey = result.outputs.sshPrivateKey.value as string;
  });

  after(async () => {
    await removeStackCompletely(stack, STACK);
  });

  it("keeps every secret value out of the backend's files", async () => {
    // The export (with --show-secrets) holds each secret's value: the test searches for them all.
    const exported = await stack!.exportStack();
    const { secretValues, plainValues } = collectStateStrings(exported.deployment);
    // Part of a private key is public: a PKCS#8 EC key ends with its public point, which the
    // certificate (plain, rightly) holds too. Such lines are not searched for.
    const publicText = [...plainValues].join("\n");
    const secrets = [...secretValues];
    for (const known of [tls.keyPem, sshPrivateKey]) {
      assert.ok(secrets.includes(known), "a known secret is not marked secret in the state");
    }
    const privateKeys = secrets.filter((value) => /PRIVATE KEY-----/.test(value));
    // The SSH key, the CA key, the client key and the host's server key at least.
    assert.ok(privateKeys.length >= 4, `only ${privateKeys.length} private keys in the state`);
    const files = readBackendFiles();
    let searched = 0;
    for (const secret of secrets) {
      for (const needle of secretNeedles(secret).filter((line) => !publicText.includes(line))) {
        searched += 1;
        assert.ok(
          !files.includes(needle) && !files.includes(JSON.stringify(needle).slice(1, -1)),
          `a secret value is in plain text in the backend's files (it starts ${needle.slice(0, 6)}...)`,
        );
      }
    }
    assert.ok(searched >= privateKeys.length * 2, `searched only ${searched} needles`);
  });

  it("answers a client holding a certificate from the environment's CA", async () => {
    assert.equal(await getVersion(host, tls.caPem, tls), "answered 200");
  });

  it("refuses a client without a certificate", async () => {
    assert.match(await getVersion(host, tls.caPem), /^refused: /);
  });

  it("refuses a client whose certificate another CA signed", async () => {
    const otherCa = await createCertificateAuthority({ commonName: "another CA" });
    const stranger = await issueClientCertificate(otherCa, { commonName: "dockfleet-client" });
    assert.match(await getVersion(host, tls.caPem, stranger), /^refused: /);
  });

  it("turns SSH password login off", async () => {
    const effective = await dockerExec(container, "sshd -T");
    assert.match(effective, /^passwordauthentication no$/m);
    assert.match(effective, /^kbdinteractiveauthentication no$/m);
    assert.match(effective, /^permitrootlogin without-password$/m);
    // A real client asking for passwords only is told the server takes public keys only.
    const attempt = await runCommand("ssh", [
      "-o",
      "BatchMode=yes",
      "-o",
      "PubkeyAuthentication=no",
      "-o",
      "PreferredAuthentications=password,keyboard-interactive",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "ConnectTimeout=10",
      `root@${host.address}`,
      "true",
    ]);
    assert.equal(attempt.code, 255);
    assert.match(attempt.stderr, /Permission denied \(publickey\)/);
  });

  it("writes its key files mode 0600, owned by root", async () => {
    for (const file of ["/etc/docker/tls/key.pem", "/root/.ssh/authorized_keys"]) {
      const mode = await dockerExec(container, `stat -c '%a %U %G' ${file}`);
      assert.equal(mode.trim(), "600 root root", file);
    }
    // The staged copies (the server key among them) are gone once applied.
    const staged = await dockerExec(container, "ls -d /etc/docker/dockfleet.staged 2>&1 || true");
    assert.match(staged, /No such file/);
  });
});
