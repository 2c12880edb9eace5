import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  NO_SUCH_FILE_EXIT_CODE,
  renderAsRoot,
  renderReadFileAsBase64,
  renderWriteStdinToFile,
} from "../../provision/ssh/as-root";
import { SudoRequiredError } from "../../provision/ssh/errors";
import { describeProcessGroup } from "../../provision/ssh/processes";
import { renderRemoteCommand } from "../../provision/ssh/shell";

/** Runs a rendered command in bash here, as the host's root shell would run it. */
function runBash(command: string, stdin?: string | Buffer) {
  return spawnSync("bash", ["-c", `umask 022; ${command}`], { input: stdin });
}

describe("renderAsRoot", () => {
  it("leaves a root login's command exactly as it is", () => {
    const command = "DOCKFLEET_NL='\n' && IFS= read -r DOCKFLEET_ENV\nbash -s";
    assert.equal(renderAsRoot(command, "root"), command);
  });

  it("runs another user's command in root's bash through non-interactive sudo", () => {
    assert.equal(
      renderAsRoot("docker info --format '{{.Swarm.LocalNodeState}}'", "deploy"),
      "sudo -n -H -- bash -c 'docker info --format '\\''{{.Swarm.LocalNodeState}}'\\'''",
    );
  });

  it("keeps env values on stdin, off the command line, and hands the shell the same text", () => {
    const remote = renderRemoteCommand('printf %s "$TOKEN" | wc -c; cat', {
      TOKEN: "s3cret 'quoted'\nline",
    });
    const sent = renderAsRoot(remote.command, "deploy");
    assert.doesNotMatch(sent, /s3cret/);
    // What bash -c receives once the login shell has unquoted it is the command as rendered.
    const unquoted = runBash(`printf %s ${sent.replace(/^sudo -n -H -- bash -c /, "")}`);
    assert.equal(unquoted.stdout.toString(), remote.command);
    const ran = runBash(sent.replace(/^sudo -n -H -- /, ""), `${remote.stdinPrefix}rest\n`);
    assert.equal(ran.stdout.toString(), `${"s3cret 'quoted'\nline".length}\nrest\n`);
  });
});

describe("files as root through a shell", () => {
  const workDir = mkdtempSync(join(tmpdir(), "dockfleet-as-root-"));
  after(() => rmSync(workDir, { recursive: true, force: true }));

  it("renders an atomic write: parent created, umask 077 until the mode is set, then renamed", () => {
    assert.equal(
      renderWriteStdinToFile("/etc/docker/tls/server-key.pem", "/etc/docker/tls/.k.tmp", 0o600),
      "mkdir -p -- '/etc/docker/tls' && umask 077 && " +
        "{ cat > '/etc/docker/tls/.k.tmp' && chmod 0600 '/etc/docker/tls/.k.tmp' && " +
        "mv -f -T -- '/etc/docker/tls/.k.tmp' '/etc/docker/tls/server-key.pem'; } || " +
        "{ rm -f -- '/etc/docker/tls/.k.tmp'; exit 1; }",
    );
  });

  it("writes the bytes with the file's mode, the new directory as mkdir -p would make it", () => {
    const path = join(workDir, "new dir", "it's.key");
    const data = Buffer.from([0, 1, 255, 10, 65]);
    const ran = runBash(renderWriteStdinToFile(path, `${path}.tmp`, 0o600), data);
    assert.equal(ran.status, 0, ran.stderr.toString());
    assert.deepEqual(readFileSync(path), data);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(workDir, "new dir")).mode & 0o777, 0o755);
    const replaced = runBash(renderWriteStdinToFile(path, `${path}.tmp`, 0o644), "public\n");
    assert.equal(replaced.status, 0, replaced.stderr.toString());
    assert.equal(readFileSync(path, "utf8"), "public\n");
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(join(workDir, "new dir")), ["it's.key"]);
  });

  it("fails and leaves no temporary file when the target cannot be replaced", () => {
    const target = join(workDir, "a-directory");
    runBash(`mkdir -p ${target}/inside`);
    const ran = runBash(renderWriteStdinToFile(target, `${target}.tmp`, 0o600), "x");
    assert.notEqual(ran.status, 0);
    assert.equal(readdirSync(workDir).includes("a-directory.tmp"), false);
  });

  it("reads a file as base64, and a missing one as its own exit code", () => {
    const path = join(workDir, "binary");
    const data = Buffer.from([0, 10, 13, 200, 255]);
    writeFileSync(path, data);
    const read = runBash(renderReadFileAsBase64(path));
    assert.equal(read.status, 0);
    assert.deepEqual(Buffer.from(read.stdout.toString(), "base64"), data);
    assert.equal(runBash(renderReadFileAsBase64(join(workDir, "none"))).status, 66);
    assert.equal(NO_SUCH_FILE_EXIT_CODE, 66);
    assert.notEqual(runBash(renderReadFileAsBase64(workDir)).status, 0, "a directory is no file");
  });
});

describe("describeProcessGroup through sudo", () => {
  it("leaves out the sudo and the root shell it started", () => {
    // As seen on Debian 12 (sudo 1.9.13): the login shell exec'd sudo, which leads the group.
    const ps = [
      "  236   235   236    9 sudo -n -H -- bash -c trap '' TERM; sleep 301; true",
      "  237   236   236    9 bash -c trap '' TERM; sleep 301; true",
      "  238   237   236    9 sleep 301",
    ].join("\n");
    assert.equal(describeProcessGroup(ps, 236), "sleep 301");
  });

  it("also below a login shell that waits for sudo, and when the root shell exec'd its command", () => {
    const ps = [
      "  300   299   300    9 bash -c printf x; sudo -n -H -- bash -c 'apt-get -y install sudo'",
      "  301   300   300    9 sudo -n -H -- bash -c apt-get -y install sudo",
      "  302   301   300    9 apt-get -y install sudo",
      "  303   302   300    9 /usr/bin/dpkg --configure sudo",
    ].join("\n");
    assert.equal(
      describeProcessGroup(ps, 300),
      "apt-get -y install sudo > /usr/bin/dpkg --configure sudo",
    );
  });

  it("keeps a bash -c that a command itself started", () => {
    const ps = [
      "  400   399   400    9 bash -c x",
      "  401   400   400    9 bash -c sleep 5; true",
      "  402   401   400    9 sleep 5",
    ].join("\n");
    assert.equal(describeProcessGroup(ps, 400), "bash -c sleep 5; true > sleep 5");
  });
});

describe("SudoRequiredError", () => {
  it("names the user, the host and the sudoers line that fixes it", () => {
    const error = new SudoRequiredError(
      "deploy@10.0.0.5:22",
      "deploy",
      {
        command: "sudo -n -H -- bash -c 'true'",
        envNames: [],
        stdout: "",
        stderr: "sudo: a password is required\n",
      },
      1,
    );
    assert.equal(
      error.message,
      [
        "deploy cannot run commands as root on deploy@10.0.0.5:22: dockfleet runs every command " +
          "on the host as root, through sudo when the login user is not root",
        "command: sudo -n -H -- bash -c 'true'",
        "exit code: 1",
        "  sudo: a password is required",
        "Log in as root, or give deploy passwordless sudo (install sudo if it is missing): put " +
          'the line "deploy ALL=(ALL) NOPASSWD:ALL" in /etc/sudoers.d/deploy (mode 0440; ' +
          "visudo -cf /etc/sudoers.d/deploy checks it).",
      ].join("\n"),
    );
  });
});
