import type { Command } from "commander";
import type { HostOutput } from "../components/stack/outputs";
import { CliError } from "./cli-error";
import { printResult, withStackOptions } from "./options";
import { defaultWorkDir, readStackOutputs } from "./stack-outputs";

/** Pure: "tcp://172.30.10.10:2376" and "tcp://172.30.10.10:2376/" name the same API. */
function sameDockerHost(a: string, b: string): boolean {
  const normal = (url: string) => url.trim().replace(/\/+$/, "").toLowerCase();
  return normal(a) === normal(b);
}

/** Pure: the host whose Docker API DOCKER_HOST names, if one of these. */
export function findActiveHost(hosts: HostOutput[], dockerHost: string): HostOutput | undefined {
  return hosts.find((host) => sameDockerHost(host.dockerHost, dockerHost));
}

export function registerActiveCommand(program: Command): void {
  const command = program
    .command("active")
    .summary("the host DOCKER_HOST points at")
    .description(
      'print the host DOCKER_HOST points at (set by `eval "$(dockfleet env <host>)"`), like ' +
        "`docker-machine active`; fails when it points at none of the stack's hosts",
    );
  withStackOptions(command).action(async (options: { stack: string; json?: boolean }) => {
    const dockerHost = process.env.DOCKER_HOST;
    if (dockerHost === undefined || dockerHost === "") {
      throw new CliError(
        'no active host: DOCKER_HOST is not set (point it at a host with `eval "$(dockfleet env <host>)"`)',
      );
    }
    const outputs = await readStackOutputs(options.stack, defaultWorkDir());
    const host = findActiveHost(outputs.hosts, dockerHost);
    if (host === undefined) {
      throw new CliError(
        `no active host: DOCKER_HOST=${dockerHost} is none of stack "${outputs.stack}"'s hosts ` +
          `(${outputs.hosts.map((candidate) => `${candidate.name} ${candidate.dockerHost}`).join(", ")})`,
      );
    }
    printResult(
      options.json,
      { name: host.name, stack: outputs.stack, url: host.dockerHost },
      host.name,
    );
  });
}
