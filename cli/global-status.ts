import type { Command } from "commander";
import { CliError } from "./cli-error";
import { type HostState, readHostState } from "./host-state";
import { parseTimeout, printResult, withTimeoutOption } from "./options";
import { defaultWorkDir, listStackNames, readStackOutputs } from "./stack-outputs";

/** One stack of `global-status`: its hosts and their states, or why they could not be read. */
export interface StackStatus {
  stack: string;
  hosts: (HostState & { address: string })[];
  error: string | null;
}

/** Pure: the table of `global-status`, like `vagrant global-status`: a line per host. */
export function renderGlobalStatus(stacks: StackStatus[]): string {
  const header = ["STACK", "NAME", "DRIVER", "STATE", "ADDRESS", "ERRORS"];
  const rows = stacks.flatMap((stack) =>
    stack.error !== null
      ? [[stack.stack, "-", "-", "-", "-", stack.error]]
      : stack.hosts.map((host) => [
          stack.stack,
          host.name,
          host.driver,
          host.state,
          host.address,
          host.error ?? "",
        ]),
  );
  const widths = header.map((_, column) =>
    Math.max(...[header, ...rows].map((row) => row[column].length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

/** A stack's status; a stack that cannot be read is a row with the reason, not a failure. */
async function stackStatus(stack: string, timeoutMs: number): Promise<StackStatus> {
  try {
    const outputs = await readStackOutputs(stack, defaultWorkDir());
    const hosts = await Promise.all(
      outputs.hosts.map(async (host) => ({
        ...(await readHostState(outputs, host, timeoutMs)).state,
        address: host.address,
      })),
    );
    return { stack, hosts, error: null };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { stack, hosts: [], error: message.split("\n")[0] };
  }
}

export function registerGlobalStatusCommand(program: Command): void {
  const command = program
    .command("global-status")
    .summary("every stack of the backend with its hosts and their states")
    .description(
      "every stack of the Pulumi backend with its hosts and their states, like `vagrant " +
        "global-status` (a stack that cannot be read shows why)",
    )
    .option("--json", "print JSON for scripts instead of text");
  withTimeoutOption(command).action(async (options: { json?: boolean; timeout: string }) => {
    const timeoutMs = parseTimeout(options.timeout);
    const names = await listStackNames(defaultWorkDir());
    if (names.length === 0) {
      throw new CliError(
        `no stacks in ${process.env.PULUMI_BACKEND_URL ?? "the Pulumi backend"}: create one with \`bin/up\``,
      );
    }
    // Stacks one after another (each read starts the Pulumi CLI); hosts of a stack at once.
    const stacks: StackStatus[] = [];
    for (const name of names) stacks.push(await stackStatus(name, timeoutMs));
    printResult(options.json, stacks, renderGlobalStatus(stacks));
  });
}
