import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateSshKeyPair } from "../../provision/ssh/keys";
import type { SshConnectionArgs } from "../../provision/ssh/types";

const SSHD = "/usr/sbin/sshd";
const LISTEN_ADDRESS = "127.0.0.1";
const START_TIMEOUT_MS = 5_000;

/** A real OpenSSH server on 127.0.0.1, root login with a generated key only. */
export interface TestSshd {
  readonly host: string;
  readonly port: number;
  /** The server's current host key, "ssh-ed25519 AAAA..." (changes on restartWithNewHostKey). */
  readonly hostPublicKey: string;
  /** A private key the server accepts for root (OpenSSH PEM). */
  readonly clientPrivateKey: string;
  readonly clientPublicKey: string;
  /** Connection args for root with the accepted key; overrides win. */
  connectionArgs(overrides?: Partial<SshConnectionArgs>): SshConnectionArgs;
  /** Starts sshd (after prepareSshd) and waits until the port accepts connections. */
  start(): Promise<void>;
  /** Stops sshd and every session, and removes its files. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops sshd, makes a new host key, starts again on the same port; returns the new key. */
  restartWithNewHostKey(): Promise<string>;
  /** Kills every session process (the listener stays): connections drop mid-command. */
  killSessions(): Promise<number>;
  /** What sshd printed so far (-e sends its log to stderr). */
  logs(): string;
}

/** Writes config and keys and picks a free port, without starting sshd (see start()). */
export async function prepareSshd(): Promise<TestSshd> {
  if (!existsSync(SSHD)) {
    throw new Error(
      `${SSHD} is missing: install openssh-server (apt-get install -y openssh-server); ` +
        "the SSH integration tests run against a real sshd",
    );
  }
  // sshd refuses to start without its privilege separation directory.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), "dockfleet-sshd-"));
  const port = await findFreePort();
  const client = generateSshKeyPair("dockfleet-test-client");
  const paths = {
    config: join(dir, "sshd_config"),
    hostKey: join(dir, "ssh_host_ed25519_key"),
    authorizedKeys: join(dir, "authorized_keys"),
    pidFile: join(dir, "sshd.pid"),
  };
  await writeFile(paths.authorizedKeys, `${client.publicKey}\n`, { mode: 0o600 });
  await writeFile(paths.config, renderSshdConfig(port, paths), { mode: 0o600 });
  let hostPublicKey = await makeHostKey(paths.hostKey);
  let server: ChildProcess | undefined;
  let output = "";
  let stopped = false;

  const start = async () => {
    if (stopped) throw new Error(`test sshd on port ${port} was stopped for good`);
    const child = spawn(SSHD, ["-D", "-e", "-f", paths.config], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    server = child;
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitForPort(port, child, () => output);
  };

  const stopServer = async () => {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await killDescendants(child.pid);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };

  return {
    host: LISTEN_ADDRESS,
    port,
    get hostPublicKey() {
      return hostPublicKey;
    },
    clientPrivateKey: client.privateKey,
    clientPublicKey: client.publicKey,
    connectionArgs: (overrides = {}) => ({
      host: LISTEN_ADDRESS,
      port,
      user: "root",
      privateKey: client.privateKey,
      ...overrides,
    }),
    start,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stopServer();
      await rm(dir, { recursive: true, force: true });
    },
    restartWithNewHostKey: async () => {
      await stopServer();
      await rm(paths.hostKey, { force: true });
      await rm(`${paths.hostKey}.pub`, { force: true });
      hostPublicKey = await makeHostKey(paths.hostKey);
      await start();
      return hostPublicKey;
    },
    killSessions: async () => (server?.pid ? killDescendants(server.pid) : 0),
    logs: () => output,
  };
}

/** prepareSshd() and start(). */
export async function startSshd(): Promise<TestSshd> {
  const sshd = await prepareSshd();
  try {
    await sshd.start();
  } catch (error) {
    await sshd.stop();
    throw error;
  }
  return sshd;
}

function renderSshdConfig(
  port: number,
  paths: { hostKey: string; authorizedKeys: string; pidFile: string },
): string {
  return [
    `Port ${port}`,
    `ListenAddress ${LISTEN_ADDRESS}`,
    `HostKey ${paths.hostKey}`,
    `PidFile ${paths.pidFile}`,
    `AuthorizedKeysFile ${paths.authorizedKeys}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    // The temp dir is not owned the way StrictModes wants; PAM is not needed for key logins.
    "StrictModes no",
    "UsePAM no",
    "MaxStartups 50",
    // bash sources ~/.bashrc for ssh commands unless SHLVL is already set. This machine's root
    // .bashrc runs `pyenv init` (slow, and a session killed mid-way leaves pyenv's rehash lock
    // behind for 60 s, stalling the next commands): not part of what these tests check.
    "SetEnv SHLVL=1",
    "Subsystem sftp internal-sftp",
    "LogLevel INFO",
    "",
  ].join("\n");
}

async function makeHostKey(path: string): Promise<string> {
  await promisify(execFile)("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path], {
    timeout: 10_000,
  });
  const line = (await readFile(`${path}.pub`, "utf8")).trim();
  return line.split(/\s+/).slice(0, 2).join(" ");
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, LISTEN_ADDRESS, () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, logs: () => string): Promise<void> {
  const giveUpAt = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < giveUpAt) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`test sshd exited (${child.exitCode ?? child.signalCode}):\n${logs()}`);
    }
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`test sshd did not listen on ${port} within ${START_TIMEOUT_MS} ms:\n${logs()}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: LISTEN_ADDRESS, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * SIGKILLs every process below pid; returns how many. All are SIGSTOPped first so that none can
 * react (e.g. report a killed command's exit status) before the connection is gone.
 */
async function killDescendants(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const parents = await readParentPids();
  const descendants: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        descendants.push(child);
        queue.push(child);
      }
    }
  }
  const signalAll = (signal: NodeJS.Signals) =>
    descendants.filter((child) => {
      try {
        process.kill(child, signal);
        return true;
      } catch {
        return false; // already gone
      }
    }).length;
  signalAll("SIGSTOP");
  return signalAll("SIGKILL");
}

async function readParentPids(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // the process ended while we looked
    }
  }
  return parents;
}
