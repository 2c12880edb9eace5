import type { Command } from "commander";
import type { HostOutput } from "../components/stack/outputs";
import { CliError } from "./cli-error";
import { writeStackClientFiles } from "./client-files";
import { printResult, withStackOptions } from "./options";
import { runInteractive, strictSshOptions } from "./ssh";
import {
  defaultWorkDir,
  findHost,
  type NamedStackOutputs,
  readStackOutputs,
} from "./stack-outputs";

/** One side of a copy: a local path, or a path on a host of the stack. */
export type CopyEndpoint = { host?: undefined; path: string } | { host: string; path: string };

/**
 * Pure: `host-1:/etc/hosts` is on host-1, `./a:b` and `/tmp/x` are local (as scp reads them: a
 * colon before any slash makes a remote path).
 */
export function parseCopyEndpoint(argument: string): CopyEndpoint {
  const match = /^([^/:]+):(.*)$/.exec(argument);
  return match === null ? { path: argument } : { host: match[1], path: match[2] };
}

/** Pure: how scp names a remote path: user@address:path, an IPv6 address in brackets. */
function remoteSpec(host: Pick<HostOutput, "sshUser" | "address">, remotePath: string): string {
  const address = host.address.includes(":") ? `[${host.address}]` : host.address;
  return `${host.sshUser}@${address}:${remotePath}`;
}

/**
 * Pure: the arguments of the system scp for a copy between SOURCE and DESTINATION, with the same
 * pinned host key and identity as `dockfleet ssh`. Both remote: copied through this machine (-3).
 */
export function renderScpArgs(
  outputs: Pick<NamedStackOutputs, "hosts" | "stack">,
  source: CopyEndpoint,
  destination: CopyEndpoint,
  files: { identityFile: string; knownHostsFile: string },
  recursive: boolean,
): string[] {
  const remote = [source, destination].filter((side) => side.host !== undefined);
  const hosts = remote.map((side) => findHost(outputs, side.host as string));
  const ports = [...new Set(hosts.map((host) => host.sshPort))];
  if (ports.length > 1) {
    throw new CliError(
      `cannot copy between ${hosts.map((host) => host.name).join(" and ")}: their SSH ports differ; copy through this machine in two steps`,
    );
  }
  const spec = (side: CopyEndpoint) =>
    side.host === undefined ? side.path : remoteSpec(findHost(outputs, side.host), side.path);
  return [
    ...strictSshOptions(files.identityFile, files.knownHostsFile).flatMap((option) => [
      "-o",
      option,
    ]),
    ...(ports.length === 1 ? ["-P", String(ports[0])] : []),
    ...(recursive ? ["-r"] : []),
    ...(remote.length === 2 ? ["-3"] : []),
    "--",
    spec(source),
    spec(destination),
  ];
}

export function registerScpCommand(program: Command): void {
  const command = program
    .command("scp")
    .summary("copy files to, from or between hosts (<host>:<path>)")
    .description(
      "copy files to, from or between hosts with the system scp and the pinned host keys, like " +
        "`docker-machine scp`: <host>:<path> is on a host, anything else local (./a:b for a local " +
        "name with a colon)",
    )
    .argument("<source>", "local path or <host>:<path>")
    .argument("<destination>", "local path or <host>:<path>")
    .option("-r, --recursive", "copy folders and what they hold");
  withStackOptions(command).action(
    async (
      sourceArgument: string,
      destinationArgument: string,
      options: { stack: string; json?: boolean; recursive?: boolean },
    ) => {
      const source = parseCopyEndpoint(sourceArgument);
      const destination = parseCopyEndpoint(destinationArgument);
      if (source.host === undefined && destination.host === undefined) {
        throw new CliError(
          "neither side is on a host: write one as <host>:<path> (see `dockfleet ls` for the names)",
          2,
        );
      }
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const files = writeStackClientFiles(outputs);
      const args = renderScpArgs(
        outputs,
        source,
        destination,
        { identityFile: files.sshKey, knownHostsFile: files.knownHosts },
        options.recursive === true,
      );
      const code = await runInteractive("scp", args);
      if (code !== 0) throw new CliError(`scp failed (exit ${code})`, code);
      if (options.json) {
        printResult(true, { source: sourceArgument, destination: destinationArgument }, "");
      }
    },
  );
}
