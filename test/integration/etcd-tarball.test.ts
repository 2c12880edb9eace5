import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  localResourceNames,
  renderNetworkCreateArgs,
} from "../../components/machines/local/run-args";
import { parseScriptResult, readScript } from "../../provision/dynamic/remote-step";
import { renderEtcdInstallEnv, renderEtcdTarballUrl } from "../../components/etcd/plan";
import {
  DOCKER_CLI,
  docker,
  removeByLabel,
  requireHostImage,
  runCommand,
  runOrThrow,
  startHostContainer,
  waitFor,
} from "../helpers/docker";

/**
 * install-etcd.sh's tarball source in a real systemd host container, against a download mirror
 * served from this machine. GitHub is unreachable here, so the "release" is laid out like the
 * official one but built from the binaries of Debian's etcd 3.4 packages: the download, the
 * SHA-256 check (against the sum the stack gives), the install, the unit and the second run that changes nothing are real; the
 * official artefact is not.
 */

const STACK = `etcdtar${process.pid}`;
const SUBNET = "172.30.41.0/24";
const GATEWAY = "172.30.41.1";
const HOST_ADDRESS = "172.30.41.10";
const VERSION = "3.4.23";
/** What a host receives: the shell prelude, then the script. */
const SCRIPT = readScript(
  path.join(__dirname, "..", "..", "components", "etcd"),
  "install-etcd.sh",
);

describe("install-etcd.sh, tarball source", { timeout: 5 * 60_000 }, () => {
  const mirrorDir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-etcd-mirror-"));
  let server: http.Server;
  let downloadUrl = "";
  /** The tarball's SHA-256, given as the stack would (etcd.sha256). */
  let sha256 = "";
  const requested: string[] = [];
  const container = localResourceNames(STACK, "host-1").container;

  before(async () => {
    const hostImage = requireHostImage();
    // A release laid out as on GitHub: v<version>/etcd-v<version>-linux-amd64.tar.gz.
    const name = `etcd-v${VERSION}-linux-amd64`;
    const release = path.join(mirrorDir, `v${VERSION}`);
    fs.mkdirSync(path.join(release, name), { recursive: true });
    // Debian's binaries, unpacked from its packages (nothing is installed on this machine).
    const debs = path.join(mirrorDir, "debs");
    fs.mkdirSync(debs);
    await runOrThrow("apt-get", ["download", "etcd-server", "etcd-client"], { cwd: debs });
    for (const deb of fs.readdirSync(debs).filter((file) => file.endsWith(".deb"))) {
      await runOrThrow("dpkg-deb", ["-x", path.join(debs, deb), path.join(debs, "root")]);
    }
    for (const binary of ["etcd", "etcdctl"]) {
      fs.copyFileSync(
        path.join(debs, "root", "usr", "bin", binary),
        path.join(release, name, binary),
      );
    }
    await runOrThrow("tar", ["-C", release, "-czf", path.join(release, `${name}.tar.gz`), name]);
    const digest = createHash("sha256")
      .update(fs.readFileSync(path.join(release, `${name}.tar.gz`)))
      .digest("hex");
    sha256 = digest;

    server = http.createServer((request, response) => {
      const file = path.join(mirrorDir, path.normalize(request.url ?? "/"));
      requested.push(request.url ?? "");
      if (!file.startsWith(mirrorDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200);
      fs.createReadStream(file).pipe(response);
    });
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    downloadUrl = `http://${GATEWAY}:${(server.address() as AddressInfo).port}/`;

    await docker(renderNetworkCreateArgs({ stack: STACK, subnet: SUBNET }));
    await startHostContainer({
      stack: STACK,
      name: "host-1",
      image: hostImage,
      ipv4Address: HOST_ADDRESS,
    });
    await waitFor(
      "systemd in the host container",
      async () =>
        /running|degraded/.test(
          (await runCommand(DOCKER_CLI, ["exec", container, "systemctl", "is-system-running"]))
            .stdout,
        ) || undefined,
      60_000,
      500,
    );
  });

  after(async () => {
    server?.close();
    await removeByLabel(STACK).catch(() => undefined);
    fs.rmSync(mirrorDir, { recursive: true, force: true });
  });

  /** install-etcd.sh from the mirror in the host container; its exit code and output. */
  const runInstallScript = (amd64: string | null = sha256) => {
    const env = renderEtcdInstallEnv({
      source: "tarball",
      version: VERSION,
      downloadUrl,
      sha256: amd64 === null ? {} : { amd64 },
    });
    const exports = Object.entries(env).map(([key, value]) => `${key}=${value}`);
    return runCommand(DOCKER_CLI, ["exec", "-i", container, "env", ...exports, "bash", "-s"], {
      input: SCRIPT,
      timeoutMs: 120_000,
    });
  };
  const install = async () => {
    const result = await runInstallScript();
    assert.equal(result.code, 0, `install-etcd.sh failed:\n${result.stderr}`);
    return { fields: parseScriptResult(result.stdout), stderr: result.stderr };
  };

  it("downloads, verifies and installs the release with a unit like Debian's", async () => {
    const { fields, stderr } = await install();
    assert.deepEqual(fields, {
      changed: "1",
      version: VERSION,
      etcd: "/usr/local/bin/etcd",
      etcdctl: "/usr/local/bin/etcdctl",
      source: "tarball",
    });
    assert.match(stderr, /OK/, "sha256sum checked the download");
    const expectedPath = new URL(renderEtcdTarballUrl(downloadUrl, VERSION, "amd64")).pathname;
    assert.ok(requested.includes(expectedPath), `requested: ${requested.join(", ")}`);
    const unit = await docker(["exec", container, "systemctl", "cat", "etcd.service"]);
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/etcd$/m);
    assert.match(unit, /^EnvironmentFile=-\/etc\/default\/etcd$/m);
    assert.equal((await docker(["exec", container, "id", "-un", "etcd"])).trim(), "etcd");
    const active = await runCommand(DOCKER_CLI, [
      "exec",
      container,
      "systemctl",
      "is-active",
      "etcd",
    ]);
    assert.notEqual(
      active.stdout.trim(),
      "active",
      "nothing is started before the member's config",
    );
  });

  it("changes nothing when run again", async () => {
    const before = requested.length;
    const { fields, stderr } = await install();
    assert.equal(fields.changed, "0", stderr);
    assert.equal(requested.length, before, "nothing was downloaded again");
  });

  it("refuses a download whose checksum does not match, and one without a checksum", async () => {
    await docker(["exec", container, "rm", "-f", "/usr/local/bin/etcd"]);
    const wrong = await runInstallScript("0".repeat(64));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /does not have the SHA-256 0{64} \(dockfleet:etcd\.sha256\.amd64\)/);
    const before = requested.length;
    const unverified = await runInstallScript(null);
    assert.notEqual(unverified.code, 0);
    assert.match(
      unverified.stderr,
      /ETCD_SHA256_AMD64 is not set to a SHA-256: dockfleet never installs/,
    );
    assert.equal(requested.length, before, "nothing is downloaded without a checksum");
    const installed = await runCommand(DOCKER_CLI, [
      "exec",
      container,
      "test",
      "-e",
      "/usr/local/bin/etcd",
    ]);
    assert.notEqual(installed.code, 0, "nothing was installed");
  });
});
