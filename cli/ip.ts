import type { Command } from "commander";
import { printResult, withStackOptions } from "./options";
import { defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

export function registerIpCommand(program: Command): void {
  const command = program
    .command("ip")
    .summary("a host's address")
    .description(
      "print a host's address, like `docker-machine ip` (with --private: the address the other " +
        "hosts use)",
    )
    .argument("<hosts...>", "host names, as `dockfleet ls` lists them");
  withStackOptions(command)
    .option("--private", "the private address (swarm, etcd) instead of the one clients use")
    .action(
      async (
        hostNames: string[],
        options: { stack: string; json?: boolean; private?: boolean },
      ) => {
        const outputs = await readStackOutputs(options.stack, defaultWorkDir());
        const hosts = hostNames.map((name) => findHost(outputs, name));
        printResult(
          options.json,
          hosts.map((host) => ({
            name: host.name,
            address: host.address,
            privateAddress: host.privateAddress,
          })),
          hosts.map((host) => (options.private ? host.privateAddress : host.address)).join("\n"),
        );
      },
    );
}
