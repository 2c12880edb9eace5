// Runs install-docker.sh and apply-docker-config.sh for real in a systemd host container and
// talks to the resulting TLS API from this machine. The scripts come through readScript, with the
// shared prelude ahead of them, as a host receives them. Needs a running Docker engine and the host
// image's tag in DOCKFLEET_HOST_IMAGE (bin/lib/host-image.sh builds it).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DOCKER_TLS_PATHS,
  mergeAdoptedDaemonJson,
  planDockerConfigUploads,
  renderDaemonJson,
  renderDockerDropIn,
  DOCKERD_ENVIRONMENT_PATH,
} from "../../components/engine/plan";
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type CertificateAndKey,
} from "../../provision/pki";
import { renderEnvironmentFile } from "../../provision/dynamic/proxy-environment";
import { readScript } from "../../provision/dynamic/remote-step";
import { dockerCeSigningKey } from "../../components/engine/signing-keys";

const HOST_IMAGE = process.env.DOCKFLEET_HOST_IMAGE;
const TEST_LABEL = "dockfleet.test=install-docker";
const ENGINE_DIR = join(__dirname, "../../components/engine");
const INSTALL_SCRIPT = readScript(ENGINE_DIR, "install-docker.sh");
const APPLY_SCRIPT = readScript(ENGINE_DIR, "apply-docker-config.sh");

/** Capabilities a systemd host container needs here: all but SYS_RESOURCE (not in the bounding set). */
const HOST_CAPABILITIES = [
  "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE",
  "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
  "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
  "NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT",
  "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_TIME",
  "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
]; // prettier-ignore

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], stdin?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    // A script that ends early (REMOVE=1 exits before the install part) stops reading its stdin:
    // the unread rest does not matter, and the EPIPE is not the test's failure.
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin ?? "");
  });
}

async function runOk(command: string, args: string[], stdin?: string): Promise<CommandResult> {
  const result = await run(command, args, stdin);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
  return result;
}

/** Parses the script's last stdout line, "DOCKFLEET_RESULT k=v ...". */
function parseResult(stdout: string): Record<string, string> {
  const last = stdout.trimEnd().split("\n").at(-1) ?? "";
  assert.match(
    last,
    /^DOCKFLEET_RESULT /,
    `last stdout line is not a result: ${JSON.stringify(last)}`,
  );
  return Object.fromEntries(
    last
      .split(" ")
      .slice(1)
      .map((pair) => pair.split("=", 2) as [string, string]),
  );
}

describe("install-docker.sh and apply-docker-config.sh on a real host container", () => {
  let container = "";
  let address = "";
  let dockerdPath = "";
  let workDir = "";
  let ca: CertificateAndKey;
  let client: CertificateAndKey;
  let server: CertificateAndKey;
  const timings: Record<string, number> = {};

  const exec = (args: string[], stdin?: string) =>
    runOk("docker", ["exec", "-i", container, ...args], stdin);
  const runScript = async (script: string, env: Record<string, string> = {}) => {
    const started = Date.now();
    const envArgs = Object.entries(env).map(([key, value]) => `${key}=${value}`);
    const result = await run(
      "docker",
      ["exec", "-i", container, "env", ...envArgs, "bash", "-s"],
      script,
    );
    return { ...result, seconds: (Date.now() - started) / 1000 };
  };
  const installedPackages = async () => (await exec(["dpkg-query", "-W"])).stdout;
  const dockerdPid = async () =>
    (await exec(["systemctl", "show", "-p", "MainPID", "--value", "docker.service"])).stdout.trim();

  /** daemon.json with these mirrors, the host's label and TLS on 2376. */
  const daemonJsonWithTls = (registryMirrors: string[]) =>
    renderDaemonJson({
      registryMirrors,
      labels: { "dockfleet.host": container },
      tls: DOCKER_TLS_PATHS,
    });

  const stageAndApply = async (
    daemonJson: string,
    env: Record<string, string> = {},
    dockerdEnvironment?: string,
  ) => {
    const uploads = planDockerConfigUploads({
      daemonJson,
      dropIn: renderDockerDropIn(dockerdPath, {
        environmentFile: dockerdEnvironment === undefined ? undefined : DOCKERD_ENVIRONMENT_PATH,
      }),
      tls: { caPem: ca.certPem, serverCertPem: server.certPem, serverKeyPem: server.keyPem },
      dockerdEnvironment,
    });
    for (const upload of uploads) {
      const mode = upload.mode.toString(8);
      // The same steps an SFTP upload takes: create the folder, write, set the mode.
      await exec(
        [
          "sh",
          "-c",
          'mkdir -p "$(dirname "$1")" && cat >"$1" && chmod "$2" "$1"',
          "stage",
          upload.path,
          mode,
        ],
        upload.content,
      );
    }
    return runScript(APPLY_SCRIPT, env);
  };

  const curlVersion = (withClientCert: boolean) => {
    const args = ["-sS", "--max-time", "10", "--cacert", join(workDir, "ca.pem")];
    if (withClientCert)
      args.push("--cert", join(workDir, "cert.pem"), "--key", join(workDir, "key.pem"));
    return run("curl", [...args, `https://${address}:2376/version`]);
  };

  before(async () => {
    assert.ok(
      HOST_IMAGE,
      "DOCKFLEET_HOST_IMAGE is not set: set it to the host image tag, e.g. " +
        'DOCKFLEET_HOST_IMAGE="$(source bin/lib/host-image.sh && ensure_host_image | tail -n 1)"',
    );
    const info = await run("docker", ["info", "--format", "{{.ServerVersion}}"]);
    assert.equal(
      info.code,
      0,
      `no Docker engine answers on this machine (start dockerd first): ${info.stderr}`,
    );
    await run("sh", ["-c", `docker ps -aq --filter label=${TEST_LABEL} | xargs -r docker rm -f`]);

    const name = `dockfleet-test-install-${process.pid}`;
    const capabilityArgs = HOST_CAPABILITIES.flatMap((capability) => ["--cap-add", capability]);
    await runOk("docker", [
      "run", "-d", "--name", name, "--hostname", name, "--label", TEST_LABEL,
      ...capabilityArgs,
      "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
      "--device-cgroup-rule", "a *:* rwm", "--cgroupns=host",
      "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
      "-v", "/var/lib/docker", "--stop-signal", "RTMIN+3",
      HOST_IMAGE,
    ]); // prettier-ignore
    container = name;
    address = (
      await runOk("docker", [
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        name,
      ])
    ).stdout.trim();
    assert.match(address, /^\d+\.\d+\.\d+\.\d+$/, `container ${name} has no IPv4 address`);
    // systemd must be up before systemctl works inside; its bus appears a moment after start.
    let state: CommandResult = { code: null, stdout: "", stderr: "" };
    for (let attempt = 0; attempt < 60 && !/running|degraded/.test(state.stdout); attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
      state = await run("docker", ["exec", name, "systemctl", "is-system-running", "--wait"]);
    }
    assert.match(
      state.stdout,
      /running|degraded/,
      `systemd in ${name} did not start: ${state.stdout}${state.stderr}`,
    );

    ca = await createCertificateAuthority({ commonName: "dockfleet-test CA", validityDays: 2 });
    server = await issueServerCertificate(ca, {
      commonName: name,
      ipAddresses: [address],
      dnsNames: [name],
      validityDays: 2,
    });
    client = await issueClientCertificate(ca, {
      commonName: "dockfleet-test-client",
      validityDays: 2,
    });
    workDir = mkdtempSync(join(tmpdir(), "dockfleet-install-test-"));
    writeFileSync(join(workDir, "ca.pem"), ca.certPem);
    writeFileSync(join(workDir, "cert.pem"), client.certPem);
    writeFileSync(join(workDir, "key.pem"), client.keyPem, { mode: 0o600 });
  });

  after(async () => {
    await run("sh", [
      "-c",
      `docker ps -aq --filter label=${TEST_LABEL} | xargs -r docker rm -f -v`,
    ]);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    console.log(`timings (s): ${JSON.stringify(timings)}`);
  });

  it("installs docker.io from the distribution and starts it", async () => {
    const first = await runScript(INSTALL_SCRIPT, { DOCKER_SOURCE: "distro" });
    timings.installFirst = first.seconds;
    assert.equal(first.code, 0, first.stderr);
    const result = parseResult(first.stdout);
    assert.equal(result.changed, "1");
    assert.equal(result.source, "distro");
    assert.match(result.version, /^\d+\.\d+\.\d+/);
    assert.match(first.stderr, /running: apt-get install --no-install-recommends docker\.io/);
    dockerdPath = result.dockerd;
    assert.equal(dockerdPath, "/usr/sbin/dockerd");
    const version = await exec(["docker", "version", "--format", "{{.Server.Version}}"]);
    assert.equal(version.stdout.trim(), result.version);
  });

  it("installs nothing on a second run and says changed=0", async () => {
    const packagesBefore = await installedPackages();
    const second = await runScript(INSTALL_SCRIPT, { DOCKER_SOURCE: "distro" });
    timings.installSecond = second.seconds;
    assert.equal(second.code, 0, second.stderr);
    assert.equal(parseResult(second.stdout).changed, "0");
    assert.match(second.stderr, /docker already installed: docker\.io \d/);
    assert.doesNotMatch(second.stderr, /apt-get install|apt package lists|Setting up/);
    assert.equal(await installedPackages(), packagesBefore);
  });

  it("refuses an unknown source and a mirror without a URL, naming the fix", async () => {
    const unknown = await runScript(INSTALL_SCRIPT, { DOCKER_SOURCE: "snap" });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /DOCKER_SOURCE="snap" is not one of: distro, docker-ce, mirror/);
    const mirror = await runScript(INSTALL_SCRIPT, { DOCKER_SOURCE: "mirror" });
    assert.equal(mirror.code, 1);
    assert.match(mirror.stderr, /DOCKER_SOURCE=mirror needs DOCKER_CE_MIRROR/);
  });

  it("refuses the distro source on a RHEL-like, where it is not Docker", async () => {
    await exec(["sh", "-c", 'printf "ID=rocky\\nVERSION_ID=9.4\\n" >/tmp/os-release-rocky']);
    const rocky = await runScript(INSTALL_SCRIPT, { OS_RELEASE_FILE: "/tmp/os-release-rocky" });
    assert.equal(rocky.code, 1);
    assert.match(
      rocky.stderr,
      /on rocky the distribution has no Docker Engine package.*DOCKER_SOURCE=docker-ce/,
    );
  });

  it("trusts a docker-ce mirror with Docker's shipped key only; plain http only when allowed", async () => {
    // Port 9 on the host container's own loopback: refused at once, no traffic leaves it.
    const mirror = { DOCKER_SOURCE: "mirror", DOCKER_CE_MIRROR: "http://127.0.0.1:9/docker-ce/" };
    const http = await runScript(INSTALL_SCRIPT, mirror);
    assert.equal(http.code, 1);
    assert.match(http.stderr, /is plain http: use https, or set ALLOW_HTTP_MIRROR=1/);
    const keyless = await runScript(INSTALL_SCRIPT, { ...mirror, ALLOW_HTTP_MIRROR: "1" });
    assert.equal(keyless.code, 1);
    assert.match(keyless.stderr, /DOCKER_CE_DEB_KEY must hold Docker's armored signing key/);
    const keyrings = await exec(["sh", "-c", "ls /etc/apt/keyrings /etc/apt/sources.list.d"]);
    assert.doesNotMatch(keyrings.stdout, /docker/);

    const key = dockerCeSigningKey("deb");
    const keyed = await runScript(INSTALL_SCRIPT, {
      ...mirror,
      ALLOW_HTTP_MIRROR: "1",
      DOCKER_CE_DEB_KEY: key,
    });
    // The unreachable mirror fails the install after the repository was added.
    assert.equal(keyed.code, 1);
    assert.doesNotMatch(keyed.stderr, /linux\/debian\/gpg/, "no key is fetched from the mirror");
    assert.equal((await exec(["cat", "/etc/apt/keyrings/docker.asc"])).stdout, key);
    await exec(["rm", "-f", "/etc/apt/keyrings/docker.asc", "/etc/apt/sources.list.d/docker.list"]);
  });

  it("points Alibaba Cloud Linux 3 at the mirror's centos/8 docker-ce repository", async () => {
    await exec([
      "sh",
      "-c",
      'mkdir -p /etc/yum.repos.d && printf "ID=alinux\\nVERSION_ID=3\\n" >/tmp/os-release-alinux',
    ]);
    const alinux = await runScript(INSTALL_SCRIPT, {
      OS_RELEASE_FILE: "/tmp/os-release-alinux",
      DOCKER_SOURCE: "mirror",
      DOCKER_CE_MIRROR: "https://mirrors.aliyun.com/docker-ce",
      DOCKER_CE_RPM_KEY: dockerCeSigningKey("rpm"),
    });
    // There is no yum on this Debian host: the run stops at the install, after writing the repo.
    assert.notEqual(alinux.code, 0);
    const repo = (await exec(["cat", "/etc/yum.repos.d/docker-ce.repo"])).stdout;
    assert.match(
      repo,
      /^baseurl=https:\/\/mirrors\.aliyun\.com\/docker-ce\/linux\/centos\/8\/\$basearch\/stable$/m,
    );
    assert.match(repo, /^gpgkey=file:\/\/\/etc\/pki\/rpm-gpg\/dockfleet-docker-ce\.asc$/m);
    const key = await exec(["cat", "/etc/pki/rpm-gpg/dockfleet-docker-ce.asc"]);
    assert.equal(key.stdout, dockerCeSigningKey("rpm"));
    await exec(["rm", "-rf", "/etc/yum.repos.d", "/etc/pki/rpm-gpg"]);
  });

  it("applies daemon.json and TLS: the API answers on 2376 to a client certificate only", async () => {
    const daemonJson = daemonJsonWithTls(["https://mirror-a.example.com"]);
    const applied = await stageAndApply(daemonJson);
    timings.applyFirst = applied.seconds;
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(parseResult(applied.stdout).changed, "1");
    assert.equal((await exec(["stat", "-c", "%a", DOCKER_TLS_PATHS.keyPath])).stdout.trim(), "600");
    assert.equal((await exec(["cat", "/etc/docker/daemon.json"])).stdout, daemonJson);

    const withCert = await curlVersion(true);
    assert.equal(withCert.code, 0, `curl with the client certificate failed: ${withCert.stderr}`);
    assert.match(JSON.parse(withCert.stdout).Version, /^\d+\.\d+/);

    const withoutCert = await curlVersion(false);
    assert.notEqual(withoutCert.code, 0, "the API answered a client without a certificate");
    assert.doesNotMatch(withoutCert.stdout, /"Version"/);
  });

  it("leaves docker running when the config is unchanged (changed=0, same dockerd PID)", async () => {
    const pidBefore = await dockerdPid();
    const daemonJson = daemonJsonWithTls(["https://mirror-a.example.com"]);
    const again = await stageAndApply(daemonJson);
    timings.applyUnchanged = again.seconds;
    assert.equal(again.code, 0, again.stderr);
    assert.equal(parseResult(again.stdout).changed, "0");
    assert.equal(await dockerdPid(), pidBefore);
  });

  it("restarts docker with a changed mirror list, without reinstalling", async () => {
    const packagesBefore = await installedPackages();
    const pidBefore = await dockerdPid();
    const mirrors = ["https://mirror-b.example.com", "http://10.0.0.2:5000"];
    const changed = await stageAndApply(daemonJsonWithTls(mirrors));
    timings.applyChanged = changed.seconds;
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(parseResult(changed.stdout).changed, "1");
    assert.notEqual(await dockerdPid(), pidBefore);
    const seen = await exec(["docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert.deepEqual(
      JSON.parse(seen.stdout).map((url: string) => url.replace(/\/$/, "")),
      mirrors,
    );
    assert.equal(await installedPackages(), packagesBefore);
    assert.equal((await curlVersion(true)).code, 0);
  });

  it("gives dockerd a proxy from a 0600 file, and removes the file with the proxy", async () => {
    const daemonJson = daemonJsonWithTls(["https://mirror-b.example.com", "http://10.0.0.2:5000"]);
    const proxy = "http://fleet:s3cret-pw@10.0.0.3:3128";
    const proxied = await stageAndApply(
      daemonJson,
      {},
      renderEnvironmentFile({ HTTP_PROXY: proxy, HTTPS_PROXY: proxy, NO_PROXY: address }),
    );
    assert.equal(proxied.code, 0, proxied.stderr);
    const info = () => exec(["docker", "info", "--format", "{{.HTTPSProxy}}|{{.NoProxy}}"]);
    assert.equal((await info()).stdout.trim(), `http://xxxxx:xxxxx@10.0.0.3:3128|${address}`);
    const file = await exec(["stat", "-c", "%a %U", DOCKERD_ENVIRONMENT_PATH]);
    assert.equal(file.stdout.trim(), "600 root");
    const shown = await exec(["systemctl", "show", "docker", "-p", "Environment"]);
    assert.doesNotMatch(shown.stdout, /s3cret-pw/);

    const dropped = await stageAndApply(daemonJson);
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.equal(parseResult(dropped.stdout).changed, "1");
    assert.equal((await info()).stdout.trim(), "|");
    const gone = await run("docker", ["exec", container, "ls", DOCKERD_ENVIRONMENT_PATH]);
    assert.notEqual(gone.code, 0, `${DOCKERD_ENVIRONMENT_PATH} is still there`);
  });

  it("rolls back a daemon.json that dockerd refuses, and docker keeps running", async () => {
    const broken = renderDaemonJson({
      tls: DOCKER_TLS_PATHS,
      extra: { "no-such-daemon-option": true },
    });
    const applied = await stageAndApply(broken, { READY_TIMEOUT_SECONDS: "20" });
    assert.equal(
      applied.code,
      1,
      "apply-docker-config.sh accepted a daemon.json that dockerd refuses",
    );
    assert.match(applied.stderr, /previous configuration/);
    assert.doesNotMatch(
      (await exec(["cat", "/etc/docker/daemon.json"])).stdout,
      /no-such-daemon-option/,
    );
    assert.equal((await curlVersion(true)).code, 0);
  });

  it("REMOVE=1 takes the configuration away and docker runs on the unix socket only", async () => {
    const removed = await runScript(APPLY_SCRIPT, { REMOVE: "1" });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(parseResult(removed.stdout).changed, "1");
    await exec(["docker", "info", "--format", "{{.ServerVersion}}"]);
    const left = await exec([
      "sh",
      "-c",
      "ls /etc/docker /etc/systemd/system/docker.service.d 2>&1 || true",
    ]);
    assert.doesNotMatch(left.stdout, /daemon\.json|tls|dockfleet/);
    assert.notEqual((await curlVersion(true)).code, 0, "port 2376 still answers after REMOVE=1");
    const again = await runScript(APPLY_SCRIPT, { REMOVE: "1" });
    assert.equal(parseResult(again.stdout).changed, "0");
  });

  // A host that already ran Docker, set up by hand, before dockfleet adopts it (ssh driver).
  const OVERRIDE = "/etc/systemd/system/docker.service.d/override.conf";
  const restartDocker = () =>
    exec([
      "sh",
      "-c",
      "systemctl daemon-reload && systemctl restart docker && docker info >/dev/null",
    ]);

  it("refuses a hand-made drop-in that starts dockerd with -H before changing anything", async () => {
    await exec(
      ["sh", "-c", `mkdir -p "$(dirname ${OVERRIDE})" && cat >${OVERRIDE}`],
      "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// -H tcp://127.0.0.1:2375\n",
    );
    await restartDocker();
    const pidBefore = await dockerdPid();

    const refused = await stageAndApply(daemonJsonWithTls([]));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /another drop-in for docker\.service sets dockerd's command line:\n {2}\/etc\/systemd\/system\/docker\.service\.d\/override\.conf line 3: ExecStart=\/usr\/sbin\/dockerd -H fd:\/\/ -H tcp:\/\/127\.0\.0\.1:2375\n/,
    );
    assert.match(refused.stderr, /delete the ExecStart lines .*Nothing was changed\.$/m);
    const left = await exec([
      "sh",
      "-c",
      "ls -A /etc/docker /etc/systemd/system/docker.service.d 2>&1 || true",
    ]);
    assert.doesNotMatch(left.stdout, /daemon\.json|tls|dockfleet/, "the refusal left files behind");
    assert.equal(await dockerdPid(), pidBefore, "docker was restarted");

    await exec(["rm", OVERRIDE]);
    await restartDocker();
  });

  it("adopts a host's own daemon.json: keeps its keys, dockerd runs with both, REMOVE=1 puts it back", async () => {
    const hostFile = `${JSON.stringify(
      {
        "data-root": "/var/lib/docker/adopted-root",
        "log-opts": { "max-size": "10m", labels: "com.example.team" },
        "default-address-pools": [{ base: "10.123.0.0/16", size: 24 }],
      },
      null,
      2,
    )}\n`;
    await exec(["sh", "-c", "cat >/etc/docker/daemon.json"], hostFile);
    await restartDocker();
    const rootDir = () => exec(["docker", "info", "--format", "{{.DockerRootDir}}"]);
    assert.equal((await rootDir()).stdout.trim(), "/var/lib/docker/adopted-root");

    const dockfleetFile = daemonJsonWithTls([]);
    assert.throws(
      () =>
        mergeAdoptedDaemonJson(
          dockfleetFile,
          hostFile.replace('"10m"', '"50m"'),
          "/etc/docker/daemon.json on the host",
        ),
      /log-opts\.max-size: the host has "50m", dockfleet has "10m"/,
    );
    const merged = mergeAdoptedDaemonJson(dockfleetFile, hostFile, "/etc/docker/daemon.json");
    const applied = await stageAndApply(merged);
    timings.applyAdopted = applied.seconds;
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(parseResult(applied.stdout).restarted, "1");
    assert.equal((await exec(["cat", "/etc/docker/daemon.json"])).stdout, merged);
    assert.equal((await rootDir()).stdout.trim(), "/var/lib/docker/adopted-root");
    assert.equal((await curlVersion(true)).code, 0, "the TLS API does not answer");
    const network = await exec([
      "sh",
      "-c",
      "docker network create adopted >/dev/null && docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' adopted && docker network rm adopted >/dev/null",
    ]);
    assert.match(
      network.stdout.trim(),
      /^10\.123\.\d+\.0\/24$/,
      "the host's address pools are gone",
    );
    const again = await stageAndApply(mergeAdoptedDaemonJson(dockfleetFile, hostFile, "x"));
    assert.equal(parseResult(again.stdout).changed, "0");

    const removed = await runScript(APPLY_SCRIPT, { REMOVE: "1" });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await exec(["cat", "/etc/docker/daemon.json"])).stdout, hostFile);
    assert.equal((await rootDir()).stdout.trim(), "/var/lib/docker/adopted-root");
    assert.notEqual((await curlVersion(true)).code, 0, "port 2376 still answers after REMOVE=1");
  });
});
