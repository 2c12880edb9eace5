import { spawn } from "node:child_process";
import * as path from "node:path";
import { CliError } from "./cli-error";
import { packageRoot } from "./package-root";

/**
 * Runs bin/up for a stack with more arguments (`--replace <urn>`) and variables for the program,
 * its output on this terminal: the commands that change a stack go through the same `up` as
 * everything else, so the rest of the stack converges too. Fails with bin/up's exit code.
 * `outputToStderr`: bin/up's output goes to stderr, leaving stdout to the command's --json.
 */
export async function runBinUp(
  stack: string,
  args: string[] = [],
  env: Record<string, string> = {},
  outputToStderr = false,
): Promise<void> {
  const up = path.join(packageRoot(), "bin", "up");
  const code = await new Promise<number>((resolve, reject) => {
    spawn("bash", [up, stack, ...args], {
      stdio: ["inherit", outputToStderr ? 2 : "inherit", "inherit"],
      env: { ...process.env, ...env },
    })
      .on("error", reject)
      .on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  if (code !== 0) throw new CliError(`bin/up ${stack} failed (exit ${code})`, code);
}
