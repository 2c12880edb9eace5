import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Stack } from "@pulumi/pulumi/automation";
import {
  assertNothingLabelled,
  docker as runDocker,
  requireHostImage,
  retryUntilPasses,
} from "../helpers/docker";
import {
  ensureBusyboxImage,
  pushBusyboxAsLibraryImage,
  saveImage,
  startRegistryContainer,
} from "../helpers/images";
import {
  assertNothingChanged,
  assertNothingCreatedDeletedOrReplaced,
  changeCounts,
  type HostOutput,
  openStack,
  readBackendFiles,
  removeStackCompletely,
  upPrintingOutput,
  writeStackConfig,
} from "../helpers/stack";

/**
 * The local stack end to end, through the Automation API and the real Pulumi CLI with the local
 * file backend: three host containers, Docker installed over SSH, the TLS API, mirrors, a second
 * `up` that changes nothing, an in-place mirror change, and a `destroy` that leaves nothing.
 */

const STACK = `e2e${process.pid}`;
const SUBNET = "172.30.21.0/24";
const MIRROR_ADDRESS = "172.30.21.250";

/** The stack file: three local hosts with the given registry mirrors. */
function writeConfig(registryMirrors: string[]): void {
  writeStackConfig(STACK, { hosts: 3, local: { subnet: SUBNET }, engine: { registryMirrors } });
}

describe("local stack, end to end", { timeout: 30 * 60_000 }, () => {
  let stack: Stack;
  let hosts: HostOutput[] = [];
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-e2e-certs-"));
  const docker = (host: HostOutput, args: string[]) =>
    runDocker([
      "--tlsverify",
      `--tlscacert=${certDir}/ca.pem`,
      `--tlscert=${certDir}/cert.pem`,
      `--tlskey=${certDir}/key.pem`,
      `--host=${host.dockerHost}`,
      ...args,
    ]);

  before(async () => {
    requireHostImage();
    writeConfig([]);
    stack = await openStack(STACK);
  });

  after(async () => {
    await runDocker(["rm", "--force", `${STACK}-mirror`]).catch(() => undefined);
    await removeStackCompletely(stack, STACK);
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  it("brings up three hosts whose Docker API answers over TLS", async () => {
    const result = await upPrintingOutput(stack);
    hosts = result.outputs.hosts.value as HostOutput[];
    assert.deepEqual(
      hosts.map((host) => host.name),
      ["host-1", "host-2", "host-3"],
    );
    const tls = result.outputs.dockerTls;
    // Secrets stay encrypted in the state on disk (history and backups included): no line of
    // any private key appears in any file of the backend.
    const state = readBackendFiles();
    const privateKeys = [tls.value.keyPem, result.outputs.sshPrivateKey.value] as string[];
    assert.equal(result.outputs.sshPrivateKey.secret, true);
    for (const key of privateKeys) {
      const body = key.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"));
      assert.ok(body.length > 0);
      for (const line of body) assert.ok(!state.includes(line), "a private key is in plain state");
    }
    fs.writeFileSync(path.join(certDir, "ca.pem"), tls.value.caPem);
    fs.writeFileSync(path.join(certDir, "cert.pem"), tls.value.certPem);
    fs.writeFileSync(path.join(certDir, "key.pem"), tls.value.keyPem, { mode: 0o600 });

    const busybox = await saveImage(await ensureBusyboxImage());
    for (const host of hosts) {
      assert.match(host.dockerHost, /^tcp:\/\/172\.30\.21\.\d+:2376$/);
      await docker(host, ["load", "--input", busybox]);
      const said = await docker(host, [
        "run",
        "--rm",
        "dockfleet-test/busybox:1",
        "echo",
        `hi from ${host.name}`,
      ]);
      assert.equal(said.trim(), `hi from ${host.name}`);
      const info = await docker(host, ["info", "--format", "{{.Name}} {{json .Labels}}"]);
      assert.match(info, new RegExp(`^${host.name} .*dockfleet.io/host=${host.name}`));
    }
    fs.rmSync(busybox, { force: true });
  });

  it("refuses a client without a certificate", async () => {
    const host = hosts[0];
    const url = host.dockerHost.replace("tcp://", "https://") + "/version";
    const ca = fs.readFileSync(path.join(certDir, "ca.pem"));
    const outcome = await new Promise<string>((resolve) => {
      https
        .get(url, { ca, timeout: 10_000 }, (response) => resolve(`answered ${response.statusCode}`))
        .on("error", (error) => resolve(`refused: ${error.message}`));
    });
    assert.match(outcome, /^refused: /);
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await stack.up());
  });

  it("pulls through a registry mirror after an in-place mirror change", async () => {
    await startRegistryContainer(STACK, `${STACK}-mirror`, MIRROR_ADDRESS);
    const busybox = await saveImage(await ensureBusyboxImage());
    // The registry starts in a moment: the push is retried until it answers.
    await retryUntilPasses(
      "the push to the mirror",
      () => pushBusyboxAsLibraryImage(busybox, `${MIRROR_ADDRESS}:5000`),
      30_000,
      500,
    );
    fs.rmSync(busybox, { force: true });

    writeConfig([`http://${MIRROR_ADDRESS}:5000`]);
    const result = await stack.up();
    const counts = changeCounts(result);
    assert.equal(counts.update, 3, `one DockerConfig update per host: ${JSON.stringify(counts)}`);
    assertNothingCreatedDeletedOrReplaced(counts);
    const host = hosts[1];
    await docker(host, ["pull", "busybox"]);
    const said = await docker(host, [
      "run",
      "--rm",
      "busybox",
      "echo",
      "pulled through the mirror",
    ]);
    assert.equal(said.trim(), "pulled through the mirror");
  });

  it("destroys everything it made", async () => {
    await runDocker(["rm", "--force", `${STACK}-mirror`]);
    await stack.destroy();
    await assertNothingLabelled(STACK);
  });
});
