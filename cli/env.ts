import * as path from "node:path";
import type { Command } from "commander";
import { CliError } from "./cli-error";
import { writeStackClientFiles } from "./client-files";
import { printResult } from "./options";
import {
  defaultStackName,
  defaultWorkDir,
  findHost,
  type NamedStackOutputs,
  readStackOutputs,
} from "./stack-outputs";

export const SHELLS = ["bash", "zsh", "fish", "powershell"] as const;
export type Shell = (typeof SHELLS)[number];

/** Variables `env` sets and `env --unset` removes, in the order docker-machine printed them. */
export const ENV_VARIABLES = [
  "DOCKER_TLS_VERIFY",
  "DOCKER_HOST",
  "DOCKER_CERT_PATH",
  "DOCKFLEET_STACK",
  "DOCKFLEET_HOST_NAME",
] as const;

/** Pure: a value quoted so that the shell reads it back unchanged. */
export function quoteForShell(shell: Shell, value: string): string {
  switch (shell) {
    case "bash":
    case "zsh":
      return `'${value.replaceAll("'", `'\\''`)}'`;
    case "fish":
      return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
    case "powershell":
      return `'${value.replaceAll("'", "''")}'`;
  }
}

/**
 * Pure: the lines `dockfleet env` prints for a shell: one assignment (or removal) per variable,
 * then docker-machine's hint on how to apply them.
 */
export function renderShellEnv(
  shell: Shell,
  variables: Partial<Record<(typeof ENV_VARIABLES)[number], string>>,
  options: { unset: boolean; selfCommand: string },
): string {
  const lines = ENV_VARIABLES.filter((name) => options.unset || variables[name] !== undefined).map(
    (name) => {
      if (options.unset) {
        if (shell === "fish") return `set -e ${name};`;
        if (shell === "powershell")
          return `Remove-Item Env:\\${name} -ErrorAction SilentlyContinue`;
        return `unset ${name}`;
      }
      const value = quoteForShell(shell, variables[name] as string);
      if (shell === "fish") return `set -gx ${name} ${value};`;
      if (shell === "powershell") return `$Env:${name} = ${value}`;
      return `export ${name}=${value}`;
    },
  );
  const apply =
    shell === "fish"
      ? `eval (${options.selfCommand})`
      : shell === "powershell"
        ? `& ${options.selfCommand} | Invoke-Expression`
        : `eval "$(${options.selfCommand})"`;
  return [...lines, "# Run this command to configure your shell:", `# ${apply}`, ""].join("\n");
}

/** The shell named by $SHELL when it is one `env` knows; bash otherwise. */
export function detectShell(shellPath = process.env.SHELL): Shell {
  const name = path.basename(shellPath ?? "");
  if (name === "pwsh" || name === "powershell") return "powershell";
  return (SHELLS as readonly string[]).includes(name) ? (name as Shell) : "bash";
}

/**
 * Reads the stack and writes its client files: what `env` and `context` share. The certificates
 * are the stack's (one CA, one client certificate), so every host has the same DOCKER_CERT_PATH.
 */
export async function prepareDockerClient(
  stackName: string,
  hostName: string,
): Promise<{ outputs: NamedStackOutputs; dockerHost: string; certPath: string }> {
  const outputs = await readStackOutputs(stackName, defaultWorkDir());
  const host = findHost(outputs, hostName);
  const certPath = writeStackClientFiles(outputs).dir;
  return { outputs, dockerHost: host.dockerHost, certPath };
}

function parseShell(value: string): Shell {
  if (!(SHELLS as readonly string[]).includes(value)) {
    throw new CliError(
      `--shell ${JSON.stringify(value)} is not known: use one of ${SHELLS.join(", ")}`,
      2,
    );
  }
  return value as Shell;
}

export function registerEnvCommand(program: Command): void {
  program
    .command("env")
    .description("print the shell lines that point the Docker CLI at a host over TLS")
    .argument("[host]", "host name, as `dockfleet ls` lists it (not needed with --unset)")
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .option("--shell <shell>", `${SHELLS.join(", ")} (default: from $SHELL)`)
    .option("-u, --unset", "print the lines that undo a previous `env`")
    .option("--json", "print the variables as JSON for scripts instead of shell lines")
    .action(
      async (
        hostName: string | undefined,
        options: { stack: string; shell?: string; unset?: boolean; json?: boolean },
      ) => {
        const shell = options.shell === undefined ? detectShell() : parseShell(options.shell);
        if (options.unset) {
          process.stdout.write(
            renderShellEnv(
              shell,
              {},
              { unset: true, selfCommand: `dockfleet env --unset --shell ${shell}` },
            ),
          );
          return;
        }
        if (hostName === undefined) {
          throw new CliError(
            "which host? `dockfleet env <host>` (see `dockfleet ls` for the names)",
            2,
          );
        }
        const client = await prepareDockerClient(options.stack, hostName);
        const variables = {
          DOCKER_TLS_VERIFY: "1",
          DOCKER_HOST: client.dockerHost,
          DOCKER_CERT_PATH: client.certPath,
          DOCKFLEET_STACK: client.outputs.stack,
          DOCKFLEET_HOST_NAME: hostName,
        };
        if (options.json) {
          printResult(true, variables, "");
          return;
        }
        process.stdout.write(
          renderShellEnv(shell, variables, {
            unset: false,
            selfCommand: `dockfleet env -s ${client.outputs.stack} --shell ${shell} ${hostName}`,
          }),
        );
      },
    );
}
