import type { Command } from "commander";
import { CliError } from "./cli-error";
import { defaultStackName } from "./stack-outputs";

/**
 * The options every command that reads a stack shares: -s/--stack, --json for scripts and, where
 * hosts are asked, --timeout.
 */
export interface CommonOptions {
  stack: string;
  json?: boolean;
}

export function withStackOptions(command: Command, what = "stack to read"): Command {
  return command
    .option("-s, --stack <stack>", what, defaultStackName())
    .option("--json", "print JSON for scripts instead of text");
}

export function withTimeoutOption(command: Command): Command {
  return command.option("--timeout <ms>", "how long to wait for each host's answer", "3000");
}

/** --timeout as milliseconds; a usage error (exit 2) when it is not a positive integer. */
export function parseTimeout(value: string): number {
  const timeoutMs = Number(value);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new CliError(`--timeout ${JSON.stringify(value)} must be a number of milliseconds`, 2);
  }
  return timeoutMs;
}

/** Prints VALUE as indented JSON with --json, else TEXT (a line end added when missing). */
export function printResult(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(
    json
      ? `${JSON.stringify(value, null, 2)}\n`
      : text.endsWith("\n") || text === ""
        ? text
        : `${text}\n`,
  );
}
