import { Command, CommanderError } from "commander";
import { CliError } from "./cli-error";
import { registerContextCommand } from "./context";
import { registerEnvCommand } from "./env";
import { registerLsCommand } from "./ls";
import { registerRegenerateCertsCommand } from "./regenerate-certs";
import { registerSnapshotCommand } from "./snapshot";
import { registerSshCommand } from "./ssh";
import { registerSshConfigCommand } from "./ssh-config";

/**
 * `dockfleet`: what docker-machine and Vagrant users typed every day (ls, env, ssh, ssh-config),
 * for the hosts of a Pulumi stack. Run through bin/dockfleet, which sets up the Pulumi backend.
 */
export function buildProgram(): Command {
  const program = new Command("dockfleet")
    .description(
      "Docker hosts of a dockfleet stack: list them, point Docker at them, log in, renew their certificates, snapshot qemu VMs",
    )
    .showHelpAfterError()
    // Lets `dockfleet ssh host-1 ls -la` pass -la to the remote command.
    .enablePositionalOptions()
    .exitOverride();
  registerLsCommand(program);
  registerEnvCommand(program);
  registerContextCommand(program);
  registerSshCommand(program);
  registerSshConfigCommand(program);
  registerRegenerateCertsCommand(program);
  registerSnapshotCommand(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the message (and help) already; help and --version are not failures.
      return error.exitCode;
    }
    if (error instanceof CliError) {
      process.stderr.write(`dockfleet: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(
      `dockfleet: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}

if (require.main === module) {
  // A reader that stops early (`| head`, an ssh that closed its config file) is not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(Number(process.exitCode ?? 0));
    throw error;
  });
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
