import type { Command } from "commander";
import type { HostPower, PowerState } from "../components/machines/power";
import type { HostOutput } from "../components/stack/outputs";
import { pollUntil } from "../provision/dynamic/poll";
import { renderProgress } from "../provision/dynamic/progress";
import { CliError } from "./cli-error";
import { probeEngine } from "./docker-api";
import { endpointOf, probeEtcdMember } from "./etcd-api";
import { printResult, withStackOptions } from "./options";
import { hostPowerOf, POWERED_DRIVERS, powerTarget } from "./power";
import {
  defaultWorkDir,
  findHost,
  type NamedStackOutputs,
  readStackOutputs,
} from "./stack-outputs";

/**
 * `stop|start|restart` (docker-machine) and `halt|up|reload` (Vagrant): hosts powered off and on
 * through their driver (cli/power.ts), one at a time. `start` returns once the host is back: its
 * Docker API answers, it is in its swarm with its planned role and its etcd member is healthy;
 * dockerd and etcd are enabled systemd units on the host, so nothing has to be run again.
 */

export type PowerAction = "stop" | "start" | "restart";

/** How long a started host has to be back in service, unless its driver says otherwise. */
const BACK_TIMEOUT_MS = 180_000;

/** What one host went through, also the JSON form. */
export interface PowerResult {
  name: string;
  action: PowerAction;
  /** The power state before. */
  before: PowerState;
  /** What was done: stop/start calls skipped when the host was already there. */
  steps: string[];
  seconds: number;
}

/** Pure: the hosts an action names; every host with --all; an error when neither or both. */
export function selectHosts(
  outputs: NamedStackOutputs,
  names: string[],
  all: boolean | undefined,
): HostOutput[] {
  if (all && names.length > 0) throw new CliError("name hosts or give --all, not both", 2);
  if (!all && names.length === 0) {
    throw new CliError(
      `which host? name one or more (${outputs.hosts.map((host) => host.name).join(", ")}) or give --all`,
      2,
    );
  }
  return all ? outputs.hosts : names.map((name) => findHost(outputs, name));
}

/** The HostPower of a host's driver; an error naming the drivers that have one otherwise. */
export function requirePower(host: HostOutput, action: PowerAction): HostPower {
  const power = hostPowerOf(host.driver);
  if (power === undefined) {
    const why = host.driver === "ssh" ? ": dockfleet did not create its machine" : "";
    throw new CliError(
      `cannot ${action} ${host.name}: its driver "${host.driver}" has no power control${why} ` +
        `(drivers that have: ${POWERED_DRIVERS.join(", ")})`,
    );
  }
  return power;
}

/** Waits until a started host is back in service; each step reported on `say`. */
async function waitUntilBack(
  outputs: NamedStackOutputs,
  host: HostOutput,
  timeoutMs: number,
  say: (line: string) => void,
): Promise<string[]> {
  const steps: string[] = [];
  const wait = async (what: string, check: () => Promise<boolean>) => {
    const started = Date.now();
    const done = await pollUntil(async () => ((await check()) ? true : undefined), {
      timeoutMs,
      intervalMs: 1000,
    });
    if (done === undefined) {
      throw new CliError(
        `${host.name}: ${what}: not within ${timeoutMs / 1000} s; see \`dockfleet inspect ${host.name}\``,
      );
    }
    const line = `${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`;
    steps.push(line);
    say(`${host.name}: ${line}`);
  };
  const probe = () => probeEngine(host.dockerHost, outputs.dockerTls, 3000);
  await wait("Docker API answers", async () => (await probe()).reachable);
  const node = outputs.swarmManager?.nodes.find((candidate) => candidate.name === host.name);
  if (node !== undefined) {
    await wait(
      `back in the swarm as ${node.role}`,
      async () => (await probe()).swarmRole === node.role,
    );
  }
  const etcd = outputs.etcd;
  if (etcd !== undefined && endpointOf(etcd.endpoints, host.privateAddress) !== undefined) {
    await wait(
      "etcd member healthy",
      async () => (await probeEtcdMember(etcd, host.privateAddress, 3000)).healthy,
    );
  }
  return steps;
}

async function powerHost(
  outputs: NamedStackOutputs,
  host: HostOutput,
  action: PowerAction,
  say: (line: string) => void,
): Promise<PowerResult> {
  const started = Date.now();
  const power = requirePower(host, action);
  const target = powerTarget(outputs.stack, host, defaultWorkDir());
  const before = await power.state(target);
  if (before === "missing") {
    throw new CliError(
      `cannot ${action} ${host.name}: its machine does not exist; \`bin/up ${outputs.stack}\` creates it again`,
    );
  }
  const steps: string[] = [];
  const step = async (what: string, run: () => Promise<void>) => {
    say(`${host.name}: ${what} ...`);
    const stepStarted = Date.now();
    await run();
    const line = `${what} (${((Date.now() - stepStarted) / 1000).toFixed(1)} s)`;
    steps.push(line);
    say(`${host.name}: ${line}`);
  };
  if (action !== "start" && before !== "stopped") await step("stopped", () => power.stop(target));
  if (action !== "stop") {
    if (action === "restart" || before !== "running") {
      await step("started", () => power.start(target));
    }
    const timeoutMs = power.backTimeoutMs ?? BACK_TIMEOUT_MS;
    steps.push(...(await waitUntilBack(outputs, host, timeoutMs, say)));
  }
  if (steps.length === 0) say(`${host.name}: already ${before}`);
  return {
    name: host.name,
    action,
    before,
    steps,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

const DESCRIPTIONS: Record<PowerAction, { alias: string; summary: string; text: string }> = {
  stop: {
    alias: "halt",
    summary: "shut hosts down (their disks stay)",
    text:
      "shut hosts down cleanly (docker-machine stop, vagrant halt): local hosts' containers stop, " +
      "VMs and cloud instances power off; their disks and place in the stack stay",
  },
  start: {
    alias: "up",
    summary: "start stopped hosts and wait until they are back in service",
    text:
      "start stopped hosts (docker-machine start, vagrant up for created machines) and wait until " +
      "each is back: Docker API, swarm role, etcd member. Creating hosts is `bin/up`",
  },
  restart: {
    alias: "reload",
    summary: "stop and start hosts, one at a time",
    text:
      "stop and start hosts, one at a time, each back in its swarm and etcd cluster before the " +
      "next (docker-machine restart, vagrant reload without a config change)",
  },
};

export function registerPowerCommands(program: Command): void {
  for (const action of ["stop", "start", "restart"] as const) {
    const command = program
      .command(action)
      .alias(DESCRIPTIONS[action].alias)
      .summary(DESCRIPTIONS[action].summary)
      .description(DESCRIPTIONS[action].text)
      .argument("[hosts...]", "host names, as `dockfleet ls` lists them")
      .option("-a, --all", "every host of the stack");
    withStackOptions(command, "stack whose hosts to power").action(
      async (names: string[], options: { stack: string; json?: boolean; all?: boolean }) => {
        const outputs = await readStackOutputs(options.stack, defaultWorkDir());
        const hosts = selectHosts(outputs, names, options.all);
        // Every host is checked before any is touched: one unpowered host fails the command first.
        for (const host of hosts) requirePower(host, action);
        const results: PowerResult[] = [];
        const say = (line: string) => process.stderr.write(`${line}\n`);
        // One at a time: a swarm keeps its managers' quorum and etcd its members'.
        for (const [index, host] of hosts.entries()) {
          if (hosts.length > 1) {
            say(
              renderProgress({
                what: "host",
                done: index + 1,
                total: hosts.length,
                detail: `${action} ${host.name}`,
              }),
            );
          }
          results.push(await powerHost(outputs, host, action, say));
        }
        printResult(
          options.json,
          results,
          results
            .map((result) => `${result.name}: ${action} done in ${result.seconds} s`)
            .join("\n"),
        );
      },
    );
  }
}
