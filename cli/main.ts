import { Command, CommanderError } from "commander";
import { CliError } from "./cli-error";
import { registerActiveCommand } from "./active";
import { registerContextCommand } from "./context";
import { registerEnvCommand } from "./env";
import { registerGlobalStatusCommand } from "./global-status";
import { registerInspectCommand } from "./inspect";
import { registerIpCommand } from "./ip";
import { registerLsCommand } from "./ls";
import { registerPowerCommands } from "./power-commands";
import { registerRegenerateCertsCommand } from "./regenerate-certs";
import { registerScpCommand } from "./scp";
import { registerSnapshotCommand } from "./snapshot";
import { registerSshCommand } from "./ssh";
import { registerSshConfigCommand } from "./ssh-config";
import { registerStatusCommand } from "./status";
import { registerUpgradeCommand } from "./upgrade";
import { registerUrlCommand } from "./url";

/**
 * `dockfleet`: what docker-machine and Vagrant users typed every day (ls, env, ssh, ssh-config),
 * for the hosts of a Pulumi stack. Run through bin/dockfleet, which sets up the Pulumi backend.
 */
export function buildProgram(): Command {
  const program = new Command("dockfleet")
    .description(
      "Docker hosts of a dockfleet stack: list and inspect them, point Docker at them, log in, " +
        "copy files, stop and start them, renew their certificates, snapshot qemu VMs",
    )
    .showHelpAfterError()
    // Lets `dockfleet ssh host-1 ls -la` pass -la to the remote command.
    .enablePositionalOptions()
    .exitOverride();
  registerLsCommand(program);
  registerStatusCommand(program);
  registerGlobalStatusCommand(program);
  registerIpCommand(program);
  registerUrlCommand(program);
  registerInspectCommand(program);
  registerActiveCommand(program);
  registerEnvCommand(program);
  registerContextCommand(program);
  registerSshCommand(program);
  registerScpCommand(program);
  registerSshConfigCommand(program);
  registerPowerCommands(program);
  registerRegenerateCertsCommand(program);
  registerUpgradeCommand(program);
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
