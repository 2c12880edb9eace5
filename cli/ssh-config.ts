import type { Command } from "commander";
import { writeStackClientFiles } from "./client-files";
import { printResult } from "./options";
import { defaultStackName, defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

export interface SshConfigHost {
  /** The `Host` alias ("host-1"). */
  alias: string;
  address: string;
  user: string;
  port: number;
}

/** Pure: an OpenSSH config block per host, like `vagrant ssh-config`, strict host key checking on. */
export function renderSshConfig(
  hosts: SshConfigHost[],
  files: { identityFile: string; knownHostsFile: string },
): string {
  return hosts
    .map((host) =>
      [
        `Host ${host.alias}`,
        `  HostName ${host.address}`,
        `  User ${host.user}`,
        `  Port ${host.port}`,
        `  IdentityFile ${quoteConfigValue(files.identityFile)}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${quoteConfigValue(files.knownHostsFile)}`,
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  PasswordAuthentication no",
        "",
      ].join("\n"),
    )
    .join("\n");
}

/** ssh_config reads a value with spaces only inside double quotes. */
function quoteConfigValue(value: string): string {
  return /\s/.test(value) ? `"${value}"` : value;
}

export function registerSshConfigCommand(program: Command): void {
  program
    .command("ssh-config")
    .description(
      "print an OpenSSH config block per host (use: ssh -F <(dockfleet ssh-config) host-1)",
    )
    .argument("[host]", "only this host")
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .option("--json", "print the logins and file paths as JSON for scripts instead")
    .action(async (hostName: string | undefined, options: { stack: string; json?: boolean }) => {
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const hosts = hostName === undefined ? outputs.hosts : [findHost(outputs, hostName)];
      // The files the config block points at, which must outlive this command: the stack's one
      // set of client files (the key, and known_hosts pinning every host's key).
      const files = writeStackClientFiles(outputs);
      const logins = hosts.map((host) => ({
        alias: host.name,
        address: host.address,
        user: host.sshUser,
        port: host.sshPort,
      }));
      const paths = { identityFile: files.sshKey, knownHostsFile: files.knownHosts };
      printResult(options.json, { hosts: logins, ...paths }, renderSshConfig(logins, paths));
    });
}
