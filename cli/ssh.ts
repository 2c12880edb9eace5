import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Command } from "commander";
import { CliError } from "./cli-error";
import { writePrivateFile } from "./private-files";
import {
  defaultStackName,
  defaultWorkDir,
  findHost,
  readStackOutputs,
  requireSshLogin,
} from "./stack-outputs";

/** Pure: how known_hosts names a host: the bare address on port 22, `[address]:port` otherwise. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/** Pure: a known_hosts line pinning a host key ("ssh-ed25519 AAAA... comment" → type and key). */
export function renderKnownHostsLine(address: string, port: number, hostKey: string): string {
  const [type, key] = hostKey.trim().split(/\s+/);
  if (!type || !key) {
    throw new CliError(
      `the pinned host key of ${address} is not an OpenSSH public key: ${JSON.stringify(hostKey)}`,
    );
  }
  return `${knownHostsName(address, port)} ${type} ${key}`;
}

/** Pure: the ssh options that make OpenSSH accept only the pinned key and use only our identity. */
export function strictSshOptions(identityFile: string, knownHostsFile: string): string[] {
  return [
    `IdentityFile=${identityFile}`,
    "IdentitiesOnly=yes",
    `UserKnownHostsFile=${knownHostsFile}`,
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    "PasswordAuthentication=no",
    "BatchMode=no",
  ];
}

/** Pure: the argument list of the system `ssh` for one host and an optional remote command. */
export function renderSshArgs(
  login: { user: string; port: number; address: string },
  files: { identityFile: string; knownHostsFile: string },
  command: string[],
): string[] {
  const options = strictSshOptions(files.identityFile, files.knownHostsFile).flatMap((option) => [
    "-o",
    option,
  ]);
  // `--` ends ssh's options: a remote command starting with "-" is not read as one.
  return [...options, "-p", String(login.port), "-l", login.user, login.address, "--", ...command];
}

export function registerSshCommand(program: Command): void {
  program
    .command("ssh")
    .description(
      "log in to a host (or run a command on it) with the system ssh and the pinned host key",
    )
    .argument("<host>", "host name, as `dockfleet ls` lists it")
    .argument("[command...]", "command to run instead of a login shell")
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .passThroughOptions()
    .action(async (hostName: string, command: string[], options: { stack: string }) => {
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const host = findHost(outputs, hostName);
      const login = requireSshLogin(outputs, host);
      // The key and the pinned host key live only as long as this ssh: a private temporary folder.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-ssh-"));
      try {
        const identityFile = writePrivateFile(
          path.join(dir, "id"),
          ensureTrailingNewline(login.privateKey),
        );
        const knownHostsFile = writePrivateFile(
          path.join(dir, "known_hosts"),
          `${renderKnownHostsLine(host.address, login.port, login.hostKey)}\n`,
        );
        const args = renderSshArgs(
          { user: login.user, port: login.port, address: host.address },
          { identityFile, knownHostsFile },
          command,
        );
        process.exitCode = await runInteractive("ssh", args);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
}

export function ensureTrailingNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}

/**
 * Runs a program on this terminal and returns its exit code. Ctrl-C goes to the child (same
 * process group); this process waits for it, so that the temporary key is always removed.
 */
function runInteractive(program: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ignore = () => undefined;
    process.on("SIGINT", ignore);
    const child = spawn(program, args, { stdio: "inherit" });
    child.on("error", (error) => {
      process.off("SIGINT", ignore);
      reject(new CliError(`cannot run ${program}: ${error.message}; install the OpenSSH client`));
    });
    child.on("exit", (code, signal) => {
      process.off("SIGINT", ignore);
      resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0));
    });
  });
}
