import type { Command } from "commander";
import { CliError } from "./cli-error";
import { probeEngine, type EngineProbe } from "./docker-api";
import type { HostOutput } from "../components/stack/outputs";
import { defaultStackName, defaultWorkDir, readStackOutputs } from "./stack-outputs";

/** One row of `dockfleet ls`, also its JSON form. */
export interface HostStatus {
  name: string;
  driver: string;
  address: string;
  dockerHost: string;
  reachable: boolean;
  dockerVersion: string;
  swarmRole: string | null;
  error: string | null;
}

/** Pure: a host's row from its stack output and what its engine answered. */
export function hostStatus(host: HostOutput, probe: EngineProbe): HostStatus {
  return {
    name: host.name,
    driver: host.driver,
    address: host.address,
    dockerHost: host.dockerHost,
    reachable: probe.reachable,
    // The live engine's version when it answers; the installed package's otherwise.
    dockerVersion: probe.serverVersion ?? host.dockerVersion,
    swarmRole: probe.swarmRole ?? null,
    error: probe.error ?? null,
  };
}

/** Pure: the table `dockfleet ls` prints, columns padded, like `docker-machine ls`. */
export function renderHostTable(rows: HostStatus[]): string {
  const header = ["NAME", "DRIVER", "ADDRESS", "REACHABLE", "DOCKER", "SWARM", "ERRORS"];
  const cells = rows.map((row) => [
    row.name,
    row.driver,
    row.address,
    row.reachable ? "yes" : "no",
    row.dockerVersion,
    row.swarmRole ?? "-",
    row.error ?? "",
  ]);
  const widths = header.map((_, column) =>
    Math.max(...[header, ...cells].map((line) => line[column].length)),
  );
  return [header, ...cells]
    .map((line) =>
      line
        .map((cell, column) => cell.padEnd(widths[column]))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

export function registerLsCommand(program: Command): void {
  program
    .command("ls")
    .description(
      "list the stack's hosts: address, whether the Docker API answers, version, swarm role",
    )
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .option("--format <format>", "table or json", "table")
    .option("--timeout <ms>", "how long to wait for each Docker API", "3000")
    .action(async (options: { stack: string; format: string; timeout: string }) => {
      if (options.format !== "table" && options.format !== "json") {
        throw new CliError(
          `--format ${JSON.stringify(options.format)} is not known: use table or json`,
          2,
        );
      }
      const timeoutMs = Number(options.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
        throw new CliError(
          `--timeout ${JSON.stringify(options.timeout)} must be a number of milliseconds`,
          2,
        );
      }
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const tls = outputs.dockerTls;
      // Hosts are independent: probe them all at once, so `ls` takes one timeout at most.
      const rows = await Promise.all(
        outputs.hosts.map(async (host) =>
          hostStatus(host, await probeEngine(host.dockerHost, tls, timeoutMs)),
        ),
      );
      process.stdout.write(
        options.format === "json"
          ? `${JSON.stringify(rows, null, 2)}\n`
          : `${renderHostTable(rows)}\n`,
      );
    });
}
