import type { Command } from "commander";
import { runBinUp } from "./bin-up";
import { type CommonOptions, printResult, withStackOptions } from "./options";
import { defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

/** Pure: the variables that make the program upgrade Docker on these hosts (none named: all). */
export function upgradeEnvironment(hosts: string[], now: Date): Record<string, string> {
  return { DOCKFLEET_UPGRADE: now.toISOString(), DOCKFLEET_UPGRADE_HOSTS: hosts.join(",") };
}

export function registerUpgradeCommand(program: Command): void {
  const command = program
    .command("upgrade")
    .argument("[hosts...]", "the hosts to upgrade (default: every host)")
    .summary("upgrade Docker to the newest version of its source, one swarm host at a time")
    .description(
      "upgrade Docker like docker-machine upgrade: to the newest version the configured source " +
        "offers (the newest of dockfleet:engine.version when it pins one). Runs bin/up <stack> " +
        "with the upgrade asked for: each host's package manager upgrades the engine and restarts " +
        "it; the hosts of a swarm take turns, each back in the swarm and running its tasks " +
        "before the next. A host already on the newest version is left running",
    );
  withStackOptions(command, "stack to change").action(
    async (hosts: string[], options: CommonOptions) => {
      // An unknown host fails here, with the stack's hosts named, before bin/up runs.
      const workDir = defaultWorkDir();
      const before = await readStackOutputs(options.stack, workDir);
      for (const host of hosts) findHost(before, host);
      process.stderr.write(
        `dockfleet: upgrading Docker on ${hosts.length > 0 ? hosts.join(", ") : "every host"} of ${options.stack}\n`,
      );
      await runBinUp(options.stack, [], upgradeEnvironment(hosts, new Date()), options.json);
      const after = await readStackOutputs(options.stack, workDir);
      const upgraded = after.hosts.filter(
        (host) => hosts.length === 0 || hosts.includes(host.name),
      );
      printResult(
        options.json,
        {
          stack: options.stack,
          hosts: upgraded.map((host) => ({ name: host.name, dockerVersion: host.dockerVersion })),
        },
        upgraded.map((host) => `${host.name}: Docker ${host.dockerVersion}`).join("\n"),
      );
    },
  );
}
