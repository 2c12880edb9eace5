import { execFile } from "node:child_process";
import type { Stack } from "@pulumi/pulumi/automation";
import {
  type HostOutput,
  parseStackOutputs,
  type StackOutputs,
  StackOutputsError,
} from "../components/stack/outputs";
import { CliError } from "./cli-error";
import { packageRoot } from "./package-root";

/** A stack's outputs (their one declaration: components/stack/outputs.ts) and the stack's name. */
export type NamedStackOutputs = StackOutputs & { stack: string };

/** Where the CLI finds the Pulumi project: DOCKFLEET_WORK_DIR, or the checkout it runs from. */
export function defaultWorkDir(): string {
  return process.env.DOCKFLEET_WORK_DIR ?? packageRoot();
}

/** The stack to read when -s is not given: DOCKFLEET_STACK, else "local" (as bin/up). */
export function defaultStackName(): string {
  return process.env.DOCKFLEET_STACK ?? "local";
}

/**
 * Checks a stack's output values (name → value, secrets in clear) against their declaration;
 * a stack without outputs, or with outputs of an older dockfleet, fails with what to run.
 */
export function parseNamedStackOutputs(stackName: string, values: unknown): NamedStackOutputs {
  if (values === null || typeof values !== "object" || !("hosts" in values)) {
    throw new CliError(
      `stack "${stackName}" has no hosts in its outputs: bring it up with \`bin/up ${stackName}\``,
    );
  }
  try {
    return { ...parseStackOutputs(values), stack: stackName };
  } catch (error) {
    if (!(error instanceof StackOutputsError)) throw error;
    throw new CliError(
      `stack "${stackName}": ${error.message}\n` +
        `run \`bin/up ${stackName}\` with this version of dockfleet to bring them up to date`,
    );
  }
}

/** `pulumi ARGS` in the project (bin/dockfleet put the CLI on PATH and chose the backend). */
function runPulumi(
  args: string[],
  workDir: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "pulumi",
      [...args, "--non-interactive"],
      { cwd: workDir, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          reject(
            new CliError(
              `cannot run the Pulumi CLI: ${error.message}; run dockfleet through bin/dockfleet`,
            ),
          );
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * Reads a stack's outputs (secrets in clear: the CLI writes them to private files) with one
 * `pulumi stack output` (the Automation API would load the whole SDK and run the CLI three
 * times, seconds per command). Fails with the stacks that do exist when the name is unknown, and
 * with how to fix it when the stack has no hosts yet or outputs of an older dockfleet.
 */
export async function readStackOutputs(
  stackName: string,
  workDir: string,
): Promise<NamedStackOutputs> {
  const result = await runPulumi(
    ["stack", "output", "--json", "--show-secrets", "--stack", stackName],
    workDir,
  );
  if (result.code !== 0) throw await stackError(stackName, workDir, result.stderr);
  return parseNamedStackOutputs(stackName, JSON.parse(result.stdout));
}

/**
 * The stack through the Automation API (for a state export); fails with the stacks that do exist
 * when the name is unknown, or with the last lines of Pulumi's error.
 */
export async function selectNamedStack(stackName: string, workDir: string): Promise<Stack> {
  // Loaded here: the SDK takes seconds to load, and most commands only read outputs.
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  try {
    return await LocalWorkspace.selectStack({ stackName, workDir });
  } catch (error) {
    throw await stackError(
      stackName,
      workDir,
      error instanceof Error ? error.message : String(error),
    );
  }
}

/** Why a stack could not be opened: an unknown name (with the known ones), or Pulumi's error. */
async function stackError(stackName: string, workDir: string, reason: string): Promise<CliError> {
  if (!/no stack named|not found|does not exist/i.test(reason)) {
    return new CliError(`cannot open stack "${stackName}" in ${workDir}:\n${lastLines(reason)}`);
  }
  const known = await listStackNames(workDir);
  return new CliError(
    `no stack named "${stackName}" in ${process.env.PULUMI_BACKEND_URL ?? "the Pulumi backend"}` +
      ` (stacks: ${known.length > 0 ? known.join(", ") : "none"}); ` +
      `choose one with -s <stack>, or create it with \`bin/up ${stackName}\``,
  );
}

/** The names of the project's stacks in the backend; none when the backend cannot be read. */
export async function listStackNames(workDir: string): Promise<string[]> {
  try {
    const result = await runPulumi(["stack", "ls", "--json"], workDir);
    if (result.code !== 0) return [];
    return (JSON.parse(result.stdout) as { name: string }[]).map((summary) => summary.name).sort();
  } catch {
    return [];
  }
}

function lastLines(text: string, count = 5): string {
  return text.trim().split("\n").slice(-count).join("\n");
}

/** The named host of a stack, or an error listing the stack's hosts. */
export function findHost(
  outputs: Pick<NamedStackOutputs, "hosts" | "stack">,
  hostName: string,
): HostOutput {
  const host = outputs.hosts.find((candidate) => candidate.name === hostName);
  if (host === undefined) {
    throw new CliError(
      `no host named "${hostName}" in stack "${outputs.stack}" ` +
        `(hosts: ${outputs.hosts.map((candidate) => candidate.name).join(", ")})`,
    );
  }
  return host;
}
