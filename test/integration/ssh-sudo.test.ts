import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  localResourceNames,
  renderNetworkCreateArgs,
} from "../../components/machines/local/run-args";
import {
  SshCommandTimeoutError,
  SshConnection,
  SudoRequiredError,
  generateSshKeyPair,
  type SshConnectionArgs,
} from "../../provision/ssh";
import {
  docker,
  dockerExec,
  ensureEngineAndHostImage,
  removeByLabel,
  startHostContainer,
  waitFor,
} from "../helpers/docker";
import { addLoginUser, installSudo } from "../helpers/login-users";

/**
 * The SSH layer with a login user other than root, on a real host container (systemd, sshd,
 * Debian's sudo): commands and files act as root through passwordless sudo, a timeout kills
 * the command's processes although they run as root, and a user without sudo is refused as the
 * connection opens, saying what to do.
 */

const STACK = `it-sudo-${process.pid}`;
const HOST = "host-1";
const SUDO_USER = "deploy";
const PLAIN_USER = "nosudo";

describe("ssh as a login user with passwordless sudo", { timeout: 10 * 60_000 }, () => {
  const container = localResourceNames(STACK, HOST).container;
  const key = generateSshKeyPair("it-ssh-sudo");
  let address = "";
  let client: SshConnection;

  const connectionArgs = (user: string): SshConnectionArgs => ({
    host: address,
    user,
    privateKey: key.privateKey,
  });

  before(async () => {
    const image = await ensureEngineAndHostImage();
    await removeByLabel(STACK);
    // Another stack (or another engineer's test) may hold a subnet: try a few /24s.
    for (let attempt = 0; attempt < 8 && address === ""; attempt++) {
      const base = `172.28.${(process.pid + attempt * 37) % 256}`;
      try {
        await docker(renderNetworkCreateArgs({ stack: STACK, subnet: `${base}.0/24` }));
        address = `${base}.10`;
      } catch (error) {
        if (!/overlap|in use/i.test((error as Error).message)) throw error;
      }
    }
    assert.notEqual(address, "", "no free 172.28.N.0/24 subnet for the test network");
    await startHostContainer({ stack: STACK, name: HOST, image, ipv4Address: address });
    await waitFor(
      "the host's SSH keys",
      () => dockerExec(container, "test -s /etc/ssh/ssh_host_ed25519_key.pub"),
      60_000,
    );
    await installSudo(container);
    await addLoginUser(container, SUDO_USER, key.publicKey, { passwordlessSudo: true });
    await addLoginUser(container, PLAIN_USER, key.publicKey, { passwordlessSudo: false });
    client = await SshConnection.connect(connectionArgs(SUDO_USER), { deadlineMs: 60_000 });
  });

  after(async () => {
    await client?.close();
    await removeByLabel(STACK);
  });

  it("runs commands as root with root's home, env values passing through stdin", async () => {
    const secret = "it's a\nsecret $(not run)";
    const result = await client.execOrThrow(
      'id -un; echo "$HOME"; printf %s "$SECRET" | sha256sum; cat; ps -e -o args=',
      { env: { SECRET: secret }, stdin: "after the env line\n" },
    );
    const [user, home, hash, rest] = result.stdout.split("\n");
    assert.equal(user, "root");
    assert.equal(home, "/root");
    assert.equal(hash.split(" ")[0], createHash("sha256").update(secret).digest("hex"));
    assert.equal(rest, "after the env line");
    // No command line on the host, sudo's and the login shell's included, holds the value.
    assert.match(result.stdout, /sudo -n -H -- bash -c/);
    assert.doesNotMatch(result.stdout, /not run/);
  });

  it("puts a 0600 file owned by root into /etc and reads it back", async () => {
    const content = Buffer.from([0, 1, 2, 255, 10, 0x41, 0x0a]);
    const path = "/etc/dockfleet-sudo-test/secret.key";
    await client.putContent(path, content, 0o600);
    const stat = await dockerExec(container, `stat -c '%a %U %G' ${path} /etc/dockfleet-sudo-test`);
    assert.deepEqual(stat.trim().split("\n"), ["600 root root", "755 root root"]);
    assert.deepEqual(await client.getContent(path), content);
    await client.putContent(path, "replaced\n", 0o644);
    assert.equal((await client.getContent(path))?.toString(), "replaced\n");
    assert.equal((await dockerExec(container, `stat -c '%a %U' ${path}`)).trim(), "644 root");
    assert.equal(await client.getContent("/etc/dockfleet-sudo-test/missing"), undefined);
    // Nothing is left beside the file, and root's own files read through sudo too.
    assert.equal(
      (await dockerExec(container, "ls -A /etc/dockfleet-sudo-test")).trim(),
      "secret.key",
    );
    assert.match((await client.getContent("/etc/shadow"))?.toString() ?? "", /^root:/);
  });

  it("a timeout kills the command's processes, which run as root", async () => {
    const error = await client
      // TERM ignored, so sshd's signal (it reaches only the sudo) cannot end it: only the group's
      // KILL, sent as root, does.
      .exec("trap '' TERM; sleep 301; true", { timeoutMs: 1_500 })
      .then(() => assert.fail("the command should have timed out"))
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof SshCommandTimeoutError, String(error));
    assert.equal(error.running, "sleep 301");
    await waitFor(
      "the timed-out command's processes to end",
      async () => {
        const left = await dockerExec(container, "pgrep -a -f '^sleep 301$' || true");
        return left.trim() === "" ? true : undefined;
      },
      10_000,
    );
    // The connection still serves commands.
    assert.equal((await client.execOrThrow("id -u")).stdout.trim(), "0");
  });

  it("refuses a login user without passwordless sudo as the connection opens", async () => {
    const error = await SshConnection.connect(connectionArgs(PLAIN_USER), {
      deadlineMs: 30_000,
    })
      .then(() => assert.fail("the connection should have been refused"))
      .catch((caught: unknown) => caught);
    assert.ok(error instanceof SudoRequiredError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `^${PLAIN_USER} cannot run commands as root on ${PLAIN_USER}@${address.replace(/\./g, "\\.")}:22`,
      ),
    );
    assert.match(error.message, /sudo: a password is required/);
    assert.match(
      error.message,
      /give nosudo passwordless sudo .*"nosudo ALL=\(ALL\) NOPASSWD:ALL" in \/etc\/sudoers\.d\/nosudo/,
    );
  });
});
