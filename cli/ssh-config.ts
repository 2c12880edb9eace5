import * as path from "node:path";
import type { Command } from "commander";
import { dockfleetHome, writePrivateFile } from "./private-files";
import { ensureTrailingNewline, renderKnownHostsLine } from "./ssh";
import {
  defaultStackName,
  defaultWorkDir,
  findHost,
  readStackOutputs,
  requireSshLogin,
  type StackOutputs,
} from "./stack-outputs";

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

/**
 * Writes the stack's SSH key and a known_hosts file holding every host's pinned key to
 * ~/.dockfleet/<stack>/ (mode 0600): the files the config block points at, which must outlive
 * this command.
 */
export function writeSshFiles(
  outputs: StackOutputs,
  hosts: StackOutputs["hosts"],
): { identityFile: string; knownHostsFile: string; logins: SshConfigHost[] } {
  const dir = path.join(dockfleetHome(), outputs.stack);
  const logins = hosts.map((host) => ({ host, login: requireSshLogin(outputs, host) }));
  const knownHosts = logins
    .map(({ host, login }) => renderKnownHostsLine(host.address, login.port, login.hostKey))
    .join("\n");
  return {
    identityFile: writePrivateFile(
      path.join(dir, "ssh_key"),
      ensureTrailingNewline(logins[0].login.privateKey),
    ),
    knownHostsFile: writePrivateFile(path.join(dir, "known_hosts"), `${knownHosts}\n`),
    logins: logins.map(({ host, login }) => ({
      alias: host.name,
      address: host.address,
      user: login.user,
      port: login.port,
    })),
  };
}

export function registerSshConfigCommand(program: Command): void {
  program
    .command("ssh-config")
    .description(
      "print an OpenSSH config block per host (use: ssh -F <(dockfleet ssh-config) host-1)",
    )
    .argument("[host]", "only this host")
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .action(async (hostName: string | undefined, options: { stack: string }) => {
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const hosts = hostName === undefined ? outputs.hosts : [findHost(outputs, hostName)];
      const files = writeSshFiles(outputs, hosts);
      process.stdout.write(renderSshConfig(files.logins, files));
    });
}
