import * as fs from "node:fs";
import * as path from "node:path";
import { CLIENT_FILE_NAMES, CLIENT_FILES_ROOT } from "../components/stack/outputs";
import { CliError } from "./cli-error";
import { writePrivateFile } from "./private-files";
import { defaultWorkDir, type NamedStackOutputs, parseNamedStackOutputs } from "./stack-outputs";

/**
 * The one place of a stack's client files: its SSH key, a known_hosts pinning every host's key,
 * and the Docker client certificates (DOCKER_CERT_PATH). bin/up writes them after `pulumi up`
 * (this file run as a script) and the CLI before it uses them (`env`, `context`, `ssh`,
 * `ssh-config`), both through writeClientFiles, into the same folder.
 */

/** Names of `.dockfleet/` that are not stacks: the local backend, its passphrase, VirtualBox and QEMU VMs. */
const RESERVED_IN_CHECKOUT = ["state", "passphrase", "virtualbox", "qemu"];

/**
 * Where a stack's client files live: `$DOCKFLEET_HOME/<stack>`, else `<workDir>/.dockfleet/<stack>`
 * next to the local backend's state, one folder per checkout and stack (the checkout's own backend
 * gives another checkout's "local" stack other hosts and another CA).
 */
export function clientFilesDir(
  stack: string,
  workDir: string,
  home: string | undefined = process.env.DOCKFLEET_HOME,
): string {
  const parts = stack.split("/");
  if (parts.some((part) => part === "" || part === "." || part === "..")) {
    throw new CliError(`stack name ${JSON.stringify(stack)} cannot name a folder for its files`);
  }
  if (home === undefined || home === "") {
    if (RESERVED_IN_CHECKOUT.includes(parts[0])) {
      throw new CliError(
        `stack "${stack}" would write its client files into ${CLIENT_FILES_ROOT}/${parts[0]}, ` +
          "which dockfleet uses for something else: set DOCKFLEET_HOME to another folder",
      );
    }
    return path.join(path.resolve(workDir), CLIENT_FILES_ROOT, ...parts);
  }
  if (!path.isAbsolute(home)) {
    // bin/up and the CLI run from different folders: a relative root would be two places.
    throw new CliError(`DOCKFLEET_HOME must be an absolute path, not ${JSON.stringify(home)}`);
  }
  return path.join(home, ...parts);
}

/** Paths of a stack's client files; `dir` is DOCKER_CERT_PATH. */
export interface ClientFiles {
  dir: string;
  sshKey: string;
  knownHosts: string;
  ca: string;
  cert: string;
  key: string;
}

/** Pure: the paths of the client files in DIR. */
export function clientFilePaths(dir: string): ClientFiles {
  const at = (name: string) => path.join(dir, name);
  return {
    dir,
    sshKey: at(CLIENT_FILE_NAMES.sshKey),
    knownHosts: at(CLIENT_FILE_NAMES.knownHosts),
    ca: at(CLIENT_FILE_NAMES.ca),
    cert: at(CLIENT_FILE_NAMES.cert),
    key: at(CLIENT_FILE_NAMES.key),
  };
}

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

function ensureTrailingNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}

/**
 * Writes every client file of the stack into DIR: files 0600 in a 0700 folder, each through a
 * temporary file and a rename (no reader sees half a key; looser files are replaced).
 */
export function writeClientFiles(outputs: NamedStackOutputs, dir: string): ClientFiles {
  const files = clientFilePaths(dir);
  const knownHosts = outputs.hosts
    .map((host) => renderKnownHostsLine(host.address, host.sshPort, host.hostKey))
    .join("\n");
  writePrivateFile(files.sshKey, ensureTrailingNewline(outputs.sshPrivateKey));
  writePrivateFile(files.knownHosts, `${knownHosts}\n`);
  writePrivateFile(files.ca, outputs.dockerTls.caPem);
  writePrivateFile(files.cert, outputs.dockerTls.certPem);
  writePrivateFile(files.key, outputs.dockerTls.keyPem);
  return files;
}

/** The CLI's commands: the stack's client files, written in their one place, for the project read. */
export function writeStackClientFiles(outputs: NamedStackOutputs): ClientFiles {
  return writeClientFiles(outputs, clientFilesDir(outputs.stack, defaultWorkDir()));
}

/** Pure: what bin/up prints after `pulumi up`: the hosts, the services, how to use them. */
export function renderUpSummary(outputs: NamedStackOutputs, files: ClientFiles): string {
  const header = ["HOST", "ADDRESS", "DOCKER_HOST", "DOCKER"];
  const rows = outputs.hosts.map((host) => [
    host.name,
    host.address,
    host.dockerHost,
    host.dockerVersion,
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i].length)));
  const lines = [header, ...rows].map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
  const services: [string, string | undefined][] = [
    ["etcd endpoints", outputs.etcd?.endpoints.join(",")],
    [
      "swarm manager",
      outputs.swarmManager && `${outputs.swarmManager.name} (${outputs.swarmManager.address})`,
    ],
    [
      "private registry",
      outputs.privateRegistry &&
        `${outputs.privateRegistry.url} (user ${outputs.privateRegistry.username}; password: pulumi stack output privateRegistry --show-secrets)`,
    ],
    [
      "Prometheus",
      outputs.monitoring &&
        `${outputs.monitoring.url}/ on ${outputs.monitoring.host} (user ${outputs.monitoring.username}; password: pulumi stack output monitoring --show-secrets)`,
    ],
    ["counter app", outputs.apps.counter],
    ["WordPress", outputs.apps.wordpress],
  ];
  const shown = services.filter((service): service is [string, string] => service[1] !== undefined);
  if (shown.length > 0) lines.push("");
  for (const [what, where] of shown) lines.push(`${what.padEnd(17)} ${where}`);
  const first = outputs.hosts[0];
  lines.push(
    "",
    `Client files (SSH key, known_hosts, Docker client certificates): ${files.dir}`,
    "Use a host's Docker engine (TLS, client certificate):",
    `  export DOCKER_HOST=${first.dockerHost} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${files.dir}`,
    "  docker info",
    "Log in to a host (the pinned host key, strict checking):",
    `  bin/dockfleet ssh -s ${outputs.stack} ${first.name}`,
    "",
  );
  return lines.join("\n");
}

/**
 * bin/up: `pulumi stack output --json --show-secrets | tsx cli/client-files.ts <stack> <workDir>`
 * writes the client files and prints the summary.
 */
function main(argv: string[]): number {
  const [stack, workDir] = argv;
  if (stack === undefined || workDir === undefined) {
    process.stderr.write("usage: client-files.ts <stack> <workDir> < stack-outputs.json\n");
    return 2;
  }
  try {
    const outputs = parseNamedStackOutputs(stack, JSON.parse(fs.readFileSync(0, "utf8")));
    const files = writeClientFiles(outputs, clientFilesDir(stack, workDir));
    process.stdout.write(renderUpSummary(outputs, files));
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    process.stderr.write(`dockfleet: ${error.message}\n`);
    return error.exitCode;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
