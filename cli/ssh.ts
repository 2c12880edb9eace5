import { spawn } from "node:child_process";
import * as os from "node:os";
import type { Command } from "commander";
import { CliError } from "./cli-error";
import { writeStackClientFiles } from "./client-files";
import { defaultStackName, defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

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
      // The stack's one set of client files: the key and every host's pinned key.
      const files = writeStackClientFiles(outputs);
      const args = renderSshArgs(
        { user: host.sshUser, port: host.sshPort, address: host.address },
        { identityFile: files.sshKey, knownHostsFile: files.knownHosts },
        command,
      );
      process.exitCode = await runInteractive("ssh", args);
    });
}

/**
 * Runs a program on this terminal and returns its exit code. Ctrl-C goes to the child (same
 * process group); this process waits for it and exits with its code.
 */
export function runInteractive(program: string, args: string[]): Promise<number> {
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
