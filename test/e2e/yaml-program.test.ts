import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { generateSshKeyPair } from "../../provision/ssh/keys";
import {
  type CommandResult,
  dockerApiAnswer,
  dockerExec,
  removeByLabel,
  runCommand,
  runOrThrow,
  startExistingHost,
} from "../helpers/docker";
import { ROOT, assertNothingChanged, stepTimer } from "../helpers/stack";

/**
 * dockfleet from a Pulumi YAML program, as a component package (provider/): the program lives
 * in a folder of its own outside the checkout, names the package by its folder in `packages:`
 * (the CLI runs the provider from source through the Node.js language host's RunPlugin), and
 * `type: dockfleet:DockerHost` makes a Docker host of a host container reached over SSH. The
 * Docker API answers over TLS with the client certificate the program outputs, a second up
 * changes nothing, and destroy takes the API down again.
 */

const STACK = `e2eyaml${process.pid}`;
const HOST = "yaml-host-1";
const ADDRESS = "172.30.98.10";
const FIXTURE = path.join(__dirname, "fixtures", "yaml-docker-host", "Pulumi.yaml");
const PROVIDER_DIR = path.join(ROOT, "provider");
const PACKAGE_VERSION = (
  JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }
).version;

describe("dockfleet's DockerHost from Pulumi YAML, end to end", { timeout: 20 * 60_000 }, () => {
  const names = localResourceNames(STACK, HOST);
  const key = generateSshKeyPair("e2e-yaml");
  const { timings, timed } = stepTimer();
  const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-yaml-"));
  let packageAdd: CommandResult;
  let stack: Stack;

  before(async () => {
    // The YAML language host, built once into the Pulumi CLI's folder (bin/lib/pulumi.sh).
    await timed("ensure_pulumi_yaml", () =>
      runOrThrow(
        "bash",
        ["-c", 'source "$1/bin/lib/pulumi.sh" && ensure_pulumi && ensure_pulumi_yaml', "-", ROOT],
        { timeoutMs: 20 * 60_000 },
      ),
    );
    await startExistingHost({
      stack: STACK,
      name: HOST,
      subnet: "172.30.98.0/24",
      ipv4Address: ADDRESS,
      authorizedKey: key.publicKey,
    });
    fs.copyFileSync(FIXTURE, path.join(projectDir, "Pulumi.yaml"));
    packageAdd = await timed("package add", () =>
      runCommand("pulumi", ["package", "add", PROVIDER_DIR], {
        cwd: projectDir,
        timeoutMs: 5 * 60_000,
      }),
    );
    // What `pulumi package add` would have recorded, had it finished (see the first test).
    fs.appendFileSync(
      path.join(projectDir, "Pulumi.yaml"),
      `packages:\n  dockfleet: ${JSON.stringify(PROVIDER_DIR)}\n`,
    );
    // The dynamic-provider process starts in the project's folder and looks for @pulumi/pulumi
    // from there (pulumi/pulumi#5455): a YAML project has no node_modules, so name dockfleet's.
    stack = await LocalWorkspace.createOrSelectStack(
      { stackName: STACK, workDir: projectDir },
      { envVars: { NODE_PATH: path.join(ROOT, "node_modules") } },
    );
    await stack.setConfig("address", { value: ADDRESS });
    await stack.setConfig("sshPrivateKey", { value: key.privateKey, secret: true });
  });

  after(async () => {
    try {
      await stack?.destroy().catch(() => undefined);
      await stack?.workspace.removeStack(STACK, { force: true }).catch(() => undefined);
      await removeByLabel(STACK);
    } finally {
      fs.rmSync(projectDir, { recursive: true, force: true });
      console.log(`timings (s): ${JSON.stringify(timings)}`);
    }
  });

  it("`pulumi package add` reads the provider's schema, then stops at linking", () => {
    // The CLI ran the provider from source (RunPlugin), got its schema and had the YAML host
    // write the package's lock file; then it asks the YAML host to Link the package, which
    // pulumi-yaml v1.25.0 does not implement, so Pulumi.yaml gets no `packages:`. Once a newer
    // pulumi-yaml links, this fails: then `pulumi package add` alone is enough.
    const output = `${packageAdd.stdout}${packageAdd.stderr}`;
    assert.match(output, /linking package: method Link not implemented/);
    const lockFile = path.join(
      projectDir,
      "sdks",
      "dockfleet",
      `dockfleet-${PACKAGE_VERSION}.yaml`,
    );
    assert.ok(fs.existsSync(lockFile), output);
  });

  it("brings up the host: Docker answers over TLS with the client certificate it outputs", async () => {
    const result = await timed("first up", () => stack.up());
    assert.equal(result.summary.result, "succeeded");
    const outputs = result.outputs;
    assert.equal(outputs.dockerHost.value, `tcp://${ADDRESS}:2376`);
    assert.equal(outputs.clientKeyPem.secret, true, "the client key is a secret output");
    const answer = await dockerApiAnswer(outputs.dockerHost.value as string, {
      caPem: outputs.caCertPem.value as string,
      certPem: outputs.clientCertPem.value as string,
      keyPem: outputs.clientKeyPem.value as string,
    });
    assert.equal(answer, "answered 200");
    const active = await dockerExec(names.container, "systemctl is-active docker || true");
    assert.equal(active.trim(), "active");
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await timed("second up", () => stack.up()));
  });

  it("destroy removes dockfleet's configuration: the TLS API is gone", async () => {
    const result = await timed("destroy", () => stack.destroy());
    assert.equal(result.summary.result, "succeeded");
    const listening = await dockerExec(names.container, "ss -ltn | grep -c ':2376 ' || true");
    assert.equal(listening.trim(), "0");
  });
});
