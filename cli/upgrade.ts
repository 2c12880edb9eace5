import type { Command } from "commander";
import { runBinUp } from "./bin-up";
import { defaultStackName, defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

/** Pure: the variables that make the program upgrade Docker on these hosts (none named: all). */
export function upgradeEnvironment(hosts: string[], now: Date): Record<string, string> {
  return { DOCKFLEET_UPGRADE: now.toISOString(), DOCKFLEET_UPGRADE_HOSTS: hosts.join(",") };
}

export function registerUpgradeCommand(program: Command): void {
  program
    .command("upgrade")
    .argument("[hosts...]", "the hosts to upgrade (default: every host)")
    .summary("upgrade Docker to the newest version of its source, one swarm host at a time")
    .description(
      "upgrade Docker like docker-machine upgrade: to the newest version the configured source " +
        "offers (the newest of dockfleet:engine.version when it pins one). Runs bin/up <stack> " +
        "with the upgrade asked for: each host's package manager upgrades the engine and restarts " +
        "it; the hosts of a swarm take turns, each back in the swarm and running its tasks " +
        "before the next. A host already on the newest version is left running",
    )
    .option("-s, --stack <stack>", "stack to change", defaultStackName())
    .action(async (hosts: string[], options: { stack: string }) => {
      // An unknown host fails here, with the stack's hosts named, before bin/up runs.
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      for (const host of hosts) findHost(outputs, host);
      process.stderr.write(
        `dockfleet: upgrading Docker on ${hosts.length > 0 ? hosts.join(", ") : "every host"} of ${options.stack}\n`,
      );
      await runBinUp(options.stack, [], upgradeEnvironment(hosts, new Date()));
    });
}
