import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { type Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import {
  type DockerTlsOutput,
  type StackOutputs,
  parseOutputMap,
} from "../../components/stack/outputs";
import { dockerExec, requireHostImage } from "../helpers/docker";
import {
  ROOT,
  assertNothingChanged,
  assertNothingCreatedDeletedOrReplaced,
  changeCounts,
  openStack,
  removeStackCompletely,
  stepTimer,
  writeStackConfig,
} from "../helpers/stack";

/**
 * Certificate lifecycle on a real host (one local host, Docker only), with test-short
 * certificates (`certificates: {duration: "8m", renewBefore: "4m"}`):
 *  - a second `up` right away changes nothing (outside the window, nothing is issued);
 *  - once the certificates are inside the window, `up` issues them again in place (updates, no
 *    replacement), restarts Docker, and the API serves the new certificate (serial and notAfter
 *    read from the TLS handshake) to a client holding the new client certificate;
 *  - `dockfleet regenerate-certs host-1` (through bin/dockfleet and bin/up) replaces host-1's
 *    certificate and leaves the CA and the client certificate as they were.
 */

const STACK = `e2ecert${process.pid}`;
const SUBNET = "172.30.80.0/24";
const ADDRESS = "172.30.80.10";
// The window opens 4 minutes after issue: time for two `up`s on a busy machine before it.
const DURATION_MS = 8 * 60_000;
const RENEW_BEFORE_MS = 4 * 60_000;

interface Served {
  serialNumber: string;
  notAfter: Date;
  authorized: boolean;
  /** Why the chain did not verify against the stack's CA, and who issued it. */
  why: string;
}

/** Hex serial numbers compared alike: lower case, no leading zeros. */
const normalSerial = (serial: string) => serial.toLowerCase().replace(/^0+(?=.)/, "");

/** The certificate the Docker API serves, from a TLS handshake with the client certificate. */
function servedCertificate(address: string, port: number, client: DockerTlsOutput) {
  return new Promise<Served>((resolve, reject) => {
    const socket = tls.connect(
      {
        host: address,
        port,
        ca: client.caPem,
        cert: client.certPem,
        key: client.keyPem,
        // Checked by the caller, which says why it failed.
        rejectUnauthorized: false,
      },
      () => {
        const peer = socket.getPeerCertificate(true);
        socket.end();
        resolve({
          serialNumber: normalSerial(peer.serialNumber),
          notAfter: new Date(peer.valid_to),
          authorized: socket.authorized,
          why:
            `${String(socket.authorizationError)}; served ${peer.serialNumber} issued by ` +
            `${JSON.stringify(peer.issuer)} (issuer serial ${peer.issuerCertificate?.serialNumber})`,
        });
      },
    );
    socket.setTimeout(15_000, () => socket.destroy(new Error("TLS handshake timed out")));
    socket.on("error", reject);
  });
}

/** GET /version with the client certificate: "answered <status>" or why not. */
function apiAnswer(dockerHost: string, client: DockerTlsOutput): Promise<string> {
  return new Promise((resolve) => {
    https
      .get(
        `${dockerHost.replace("tcp://", "https://")}/version`,
        { ca: client.caPem, cert: client.certPem, key: client.keyPem, timeout: 15_000 },
        (response) => {
          response.resume();
          resolve(`answered ${response.statusCode}`);
        },
      )
      .on("error", (error) => resolve(`refused: ${error.message}`))
      .on("timeout", () => resolve("timed out"));
  });
}

const certificateOf = (outputs: StackOutputs, use: string) => {
  const found = [...(outputs.hosts[0].certificates ?? []), ...(outputs.certificates ?? [])].find(
    (certificate) => certificate.use === use,
  );
  assert.ok(found, `a ${use} certificate in the outputs`);
  return found;
};

describe("certificate lifecycle, end to end", { timeout: 20 * 60_000 }, () => {
  const container = localResourceNames(STACK, "host-1").container;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-e2e-certs-"));
  const { timings, timed } = stepTimer();
  let stack: Stack;
  let outputs: StackOutputs;
  let served: Served;
  const dockerStarted = async () =>
    (await dockerExec(container, "systemctl show docker -p ActiveEnterTimestampMonotonic")).trim();

  before(async () => {
    requireHostImage();
    writeStackConfig(STACK, {
      hosts: 1,
      local: { subnet: SUBNET },
      certificates: { duration: "8m", renewBefore: "4m" },
    });
    stack = await openStack(STACK);
  });

  after(async () => {
    console.log(`timings (s): ${JSON.stringify(timings)}`);
    await removeStackCompletely(stack, STACK);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("issues short certificates: the API serves the one in the outputs; a second up changes nothing", async () => {
    const result = await timed("first up", () => stack.up());
    assert.equal(result.summary.result, "succeeded");
    outputs = parseOutputMap(result.outputs);
    served = await servedCertificate(ADDRESS, 2376, outputs.dockerTls);
    assert.equal(served.authorized, true, served.why);
    const docker = certificateOf(outputs, "docker");
    assert.equal(served.serialNumber, normalSerial(docker.serialNumber));
    assert.equal(served.notAfter.getTime(), Math.floor(Date.parse(docker.notAfter) / 1000) * 1000);
    const lifetime = Date.parse(docker.notAfter) - Date.now();
    assert.ok(lifetime > 0 && lifetime <= DURATION_MS, `valid for ${lifetime} ms from now`);
    assert.ok(
      Date.parse(certificateOf(outputs, "docker-ca").notAfter) - Date.now() > 3000 * 86_400_000,
      "the CA keeps its ten years",
    );

    const startedBefore = await dockerStarted();
    assertNothingChanged(await timed("second up (outside the window)", () => stack.up()));
    assert.equal(await dockerStarted(), startedBefore, "Docker was not restarted");
  });

  it("renews them in place once inside the window: Docker serves the new certificate", async () => {
    const windowOpens = served.notAfter.getTime() - RENEW_BEFORE_MS;
    const wait = windowOpens - Date.now() + 5_000;
    console.log(`waiting ${Math.max(0, Math.round(wait / 1000))} s for the renewal window`);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));

    const startedBefore = await dockerStarted();
    const result = await timed("up inside the window", () => stack.up());
    assert.equal(result.summary.result, "succeeded");
    const counts = changeCounts(result);
    assertNothingCreatedDeletedOrReplaced(counts);
    assert.ok(
      (counts.update ?? 0) >= 3,
      `certificates and DockerConfig updated: ${JSON.stringify(counts)}`,
    );
    const renewedOutputs = parseOutputMap(result.outputs);
    const renewed = await servedCertificate(ADDRESS, 2376, renewedOutputs.dockerTls);
    assert.equal(renewed.authorized, true, renewed.why);
    assert.notEqual(renewed.serialNumber, served.serialNumber, "a new serial is served");
    assert.ok(renewed.notAfter > served.notAfter, "valid until later");
    assert.equal(
      renewed.serialNumber,
      normalSerial(certificateOf(renewedOutputs, "docker").serialNumber),
    );
    assert.notEqual(
      certificateOf(renewedOutputs, "docker-client").serialNumber,
      certificateOf(outputs, "docker-client").serialNumber,
      "the client certificate was in its window too",
    );
    assert.equal(
      certificateOf(renewedOutputs, "docker-ca").serialNumber,
      certificateOf(outputs, "docker-ca").serialNumber,
      "the CA stays",
    );
    assert.notEqual(await dockerStarted(), startedBefore, "Docker restarted with it");
    assert.equal(
      await apiAnswer(renewedOutputs.hosts[0].dockerHost, renewedOutputs.dockerTls),
      "answered 200",
    );
    outputs = renewedOutputs;
    served = renewed;
  });

  it("dockfleet ls shows the expiry; regenerate-certs host-1 replaces host-1's certificate only", async () => {
    const env = {
      ...process.env,
      DOCKFLEET_HOME: path.join(home, "dockfleet"),
      DOCKFLEET_STACK: STACK,
    };
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          path.join(ROOT, "bin", "dockfleet"),
          args,
          { env, timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) =>
            resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });

    const ls = await timed("dockfleet ls", () => run(["ls", "--format", "json"]));
    assert.equal(ls.code, 0, ls.stderr);
    const [row] = JSON.parse(ls.stdout) as {
      reachable: boolean;
      certificatesExpire: string;
      certificates: { use: string; serialNumber: string }[];
    }[];
    assert.equal(row.reachable, true);
    assert.equal(row.certificatesExpire, certificateOf(outputs, "docker").notAfter);
    assert.deepEqual(
      row.certificates.map((certificate) => certificate.use),
      ["docker"],
    );
    const table = await run(["ls"]);
    assert.match(table.stdout, /CERTS EXPIRE/);
    assert.match(table.stdout, /\ndocker-ca expires \d{4}-\d\d-\d\d, docker-client expires /);

    const unknown = await run(["regenerate-certs", "host-9"]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no certificates of a host named "host-9".*\(hosts: host-1\)/);

    const regenerated = await timed("regenerate-certs host-1", () =>
      run(["regenerate-certs", "host-1", "--json"]),
    );
    assert.equal(regenerated.code, 0, `${regenerated.stdout}\n${regenerated.stderr}`);
    assert.match(regenerated.stderr, /issuing 1 certificate\(s\) again/);
    // --json: bin/up's output went to stderr, stdout is the JSON alone.
    const summary = JSON.parse(regenerated.stdout) as { host: string; replaced: string[] };
    assert.equal(summary.host, "host-1");
    assert.equal(summary.replaced.length, 1);
    assert.match(summary.replaced[0], /host-1.*server-cert$/);
    const after = parseOutputMap(await stack.outputs());
    const replaced = await servedCertificate(ADDRESS, 2376, after.dockerTls);
    const onHost = await dockerExec(
      container,
      "for f in ca cert; do openssl x509 -noout -serial -subject -in /etc/docker/tls/$f.pem; done",
    );
    assert.equal(
      replaced.authorized,
      true,
      `${replaced.why}; CA in the outputs ${certificateOf(after, "docker-ca").serialNumber} (before ` +
        `${certificateOf(outputs, "docker-ca").serialNumber}); on the host: ${onHost}\n` +
        `bin/up said:\n${regenerated.stderr.slice(-6000)}`,
    );
    assert.notEqual(replaced.serialNumber, served.serialNumber, "host-1 serves a new certificate");
    assert.equal(replaced.serialNumber, normalSerial(certificateOf(after, "docker").serialNumber));
    for (const use of ["docker-ca", "docker-client"]) {
      assert.equal(
        certificateOf(after, use).serialNumber,
        certificateOf(outputs, use).serialNumber,
        `the ${use} certificate is left as it was`,
      );
    }
    // bin/up rewrote the client files; the API answers them.
    const clientDir = path.join(home, "dockfleet", STACK);
    const files = {
      caPem: fs.readFileSync(path.join(clientDir, "ca.pem"), "utf8"),
      certPem: fs.readFileSync(path.join(clientDir, "cert.pem"), "utf8"),
      keyPem: fs.readFileSync(path.join(clientDir, "key.pem"), "utf8"),
    };
    assert.equal(await apiAnswer(after.hosts[0].dockerHost, files), "answered 200");
  });
});
