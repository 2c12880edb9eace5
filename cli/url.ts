import type { Command } from "commander";
import { printResult, withStackOptions } from "./options";
import { defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

export function registerUrlCommand(program: Command): void {
  const command = program
    .command("url")
    .summary("the URL of a host's Docker API")
    .description(
      "print the URL of a host's Docker API (DOCKER_HOST, TLS), like `docker-machine url`",
    )
    .argument("<host>", "host name, as `dockfleet ls` lists it");
  withStackOptions(command).action(
    async (hostName: string, options: { stack: string; json?: boolean }) => {
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const host = findHost(outputs, hostName);
      printResult(options.json, { name: host.name, url: host.dockerHost }, host.dockerHost);
    },
  );
}
