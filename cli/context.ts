import { execFile } from "node:child_process";
import * as path from "node:path";
import type { Command } from "commander";
import { CliError } from "./cli-error";
import { prepareDockerClient } from "./env";
import { printResult } from "./options";
import { defaultStackName } from "./stack-outputs";

/** Pure: the context name for a host: `dockfleet-<stack>-<host>` unless one is given. */
export function contextName(stack: string, host: string): string {
  return `dockfleet-${stack}-${host}`;
}

/** Pure: the `--docker` endpoint value of `docker context create|update`. */
export function renderDockerEndpoint(dockerHost: string, certPath: string): string {
  const files = ["ca", "cert", "key"].map(
    (name) => `${name}=${path.join(certPath, `${name}.pem`)}`,
  );
  return [`host=${dockerHost}`, ...files].join(",");
}

function docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile("docker", args, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(
          new CliError(
            `cannot run the Docker CLI (docker ${args[0]} ...): ${error.message}; install it first`,
          ),
        );
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

export function registerContextCommand(program: Command): void {
  program
    .command("context")
    .description(
      "create or update a `docker context` for a host (TLS files copied into Docker's store)",
    )
    .argument("<host>", "host name, as `dockfleet ls` lists it")
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .option("--name <name>", "context name (default: dockfleet-<stack>-<host>)")
    .option("--use", "also make it the current context (`docker context use`)")
    .option("--json", "print the context's name and endpoint as JSON for scripts")
    .action(
      async (
        hostName: string,
        options: { stack: string; name?: string; use?: boolean; json?: boolean },
      ) => {
        const client = await prepareDockerClient(options.stack, hostName);
        const name = options.name ?? contextName(client.outputs.stack, hostName);
        const endpoint = renderDockerEndpoint(client.dockerHost, client.certPath);
        const exists = (await docker(["context", "inspect", name])).code === 0;
        const verb = exists ? "update" : "create";
        const result = await docker([
          "context",
          verb,
          name,
          "--description",
          `dockfleet stack ${client.outputs.stack}, host ${hostName}`,
          "--docker",
          endpoint,
        ]);
        if (result.code !== 0) {
          throw new CliError(
            `docker context ${verb} ${name} failed (exit ${result.code}):\n${result.stderr.trim()}`,
          );
        }
        if (options.use) {
          const used = await docker(["context", "use", name]);
          if (used.code !== 0)
            throw new CliError(`docker context use ${name} failed:\n${used.stderr.trim()}`);
        }
        process.stderr.write(
          `${exists ? "updated" : "created"} docker context ${name} (${client.dockerHost})\n`,
        );
        printResult(
          options.json,
          { name, dockerHost: client.dockerHost, created: !exists, current: options.use === true },
          options.use
            ? name
            : `${name}\n# Use it: docker --context ${name} info   or   docker context use ${name}`,
        );
      },
    );
}
