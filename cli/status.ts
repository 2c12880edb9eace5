import type { Command } from "commander";
import { type HostState, readHostState } from "./host-state";
import { parseTimeout, printResult, withStackOptions, withTimeoutOption } from "./options";
import { defaultWorkDir, findHost, readStackOutputs } from "./stack-outputs";

/** Pure: `status` without a host, like `vagrant status`: a host and its state per line. */
export function renderStatusTable(states: HostState[]): string {
  const width = Math.max(4, ...states.map((state) => state.name.length));
  const lines = states.map((state) =>
    [state.name.padEnd(width), state.state.padEnd(8), state.error ?? ""].join("   ").trimEnd(),
  );
  return [`${"NAME".padEnd(width)}   STATE`, ...lines].join("\n");
}

export function registerStatusCommand(program: Command): void {
  const command = program
    .command("status")
    .summary("a host's state (Running, Stopped, Error, ...), or every host's")
    .description(
      "print a host's state like `docker-machine status` (Running, Stopped, Paused, Starting, " +
        "Stopping, Error): the driver says whether the machine is on, the Docker API whether it " +
        "works; without a host, every host of the stack like `vagrant status`",
    )
    .argument("[host]", "host name, as `dockfleet ls` lists it (default: every host)");
  withTimeoutOption(withStackOptions(command)).action(
    async (
      hostName: string | undefined,
      options: { stack: string; json?: boolean; timeout: string },
    ) => {
      const timeoutMs = parseTimeout(options.timeout);
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      const hosts = hostName === undefined ? outputs.hosts : [findHost(outputs, hostName)];
      const states = await Promise.all(
        hosts.map(async (host) => (await readHostState(outputs, host, timeoutMs)).state),
      );
      if (hostName !== undefined) {
        const [state] = states;
        printResult(
          options.json,
          state,
          state.error === null ? state.state : `${state.state}\n# ${state.error}`,
        );
        return;
      }
      printResult(options.json, states, renderStatusTable(states));
    },
  );
}
