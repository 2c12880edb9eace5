import type * as pulumi from "@pulumi/pulumi";
import { withSshRetry } from "../ssh/pool";
import { shellQuote } from "../ssh/shell";
import type { SshConnectionArgs } from "../ssh/types";
import { isHostGone, UNDO_CONNECT_DEADLINE_MS } from "./remote-step";

/**
 * What a remote step left on its host, as a probe reads it: `key=value` pairs that stay the same
 * while nothing changes (file hashes, package versions, a service's state, a node's role), never
 * contents or anything that moves by itself (PIDs, times, replica counts mid-rollout).
 */
export type HostFacts = Record<string, string>;

/**
 * A shell snippet, run as root on the host with stderr discarded, that prints the step's facts
 * as `key=value` lines. `shaOf PATH` and `modeOf PATH` are defined for it (FACTS_PRELUDE).
 */
export type FactsProbe = string;

/** The facts a step keeps in its state: recorded when it last ran, and what refresh found. */
export interface ProbedOutputs {
  /** What the step left on the host when it last ran. */
  facts?: HostFacts;
  /** How the host differs from `facts`, as of the last refresh (empty when it does not). */
  drift?: string[];
}

/** The facts of a host that cannot be reached: every step on it has drifted. */
export const UNREACHABLE: HostFacts = { host: "unreachable" };

const FACTS_PRELUDE = [
  `shaOf() { if [ -e "$1" ]; then sha256sum "$1" | cut -c1-16; else echo missing; fi; }`,
  `modeOf() { stat -c %a "$1" 2>/dev/null || echo missing; }`,
].join("\n");

/** Pure: a probe for files, one fact per file: its hash and mode ("daemon.json=1a2b3c4d 644"). */
export function probeFiles(files: Readonly<Record<string, string>>): FactsProbe {
  return Object.entries(files)
    .map(
      ([name, path]) => `echo "${name}=$(shaOf ${shellQuote(path)}) $(modeOf ${shellQuote(path)})"`,
    )
    .join("\n");
}

/** The command the probes run as (the argument only names it in `ps` and in test fakes). */
export const FACTS_COMMAND = "bash -s dockfleet-facts";

const PROBE_TIMEOUT_MS = 60_000;

/** How long the probes for one host are gathered before they run as one command. */
const BATCH_WINDOW_MS = 50;

interface PendingProbe {
  probe: FactsProbe;
  resolve: (facts: HostFacts) => void;
  reject: (error: unknown) => void;
}

const batches = new Map<string, { connection: SshConnectionArgs; probes: PendingProbe[] }>();

/**
 * Reads a step's facts from its host. The probes that the steps of one host ask for together (a
 * refresh reads every resource at once) run as one `bash -s` over one SSH exec, not one per step
 * or per field. A host that cannot be reached (or shows another host key) reads as UNREACHABLE.
 */
export function readHostFacts(
  connection: SshConnectionArgs,
  probe: FactsProbe,
): Promise<HostFacts> {
  const key = `${connection.user ?? "root"}@${connection.host}:${connection.port ?? 22}`;
  let batch = batches.get(key);
  if (batch === undefined) {
    batch = { connection, probes: [] };
    batches.set(key, batch);
    setTimeout(() => {
      batches.delete(key);
      void runProbes(batch!.connection, batch!.probes);
    }, BATCH_WINDOW_MS);
  }
  const probes = batch.probes;
  return new Promise((resolve, reject) => probes.push({ probe, resolve, reject }));
}

async function runProbes(connection: SshConnectionArgs, probes: PendingProbe[]): Promise<void> {
  try {
    const stdout = await withSshRetry(
      connection,
      async (client) =>
        (
          await client.execOrThrow(FACTS_COMMAND, {
            stdin: renderProbes(probes.map((p) => p.probe)),
            // Reads only: a host that cannot answer them in a minute is not worth waiting for.
            timeoutMs: PROBE_TIMEOUT_MS,
          })
        ).stdout,
      { deadlineMs: UNDO_CONNECT_DEADLINE_MS },
    );
    const sections = parseProbeOutput(stdout, probes.length);
    probes.forEach((pending, index) => pending.resolve(sections[index] ?? {}));
  } catch (error) {
    if (isHostGone(error)) probes.forEach((pending) => pending.resolve(UNREACHABLE));
    else probes.forEach((pending) => pending.reject(error));
  }
}

const SECTION_MARK = "@@dockfleet-facts";

/** Pure: one script running each probe in its own subshell, its output after a numbered mark. */
export function renderProbes(probes: readonly FactsProbe[]): string {
  const parts = probes.map(
    (probe, index) => `echo "${SECTION_MARK} ${index}"\n( ${probe}\n) 2>/dev/null || true`,
  );
  return `${FACTS_PRELUDE}\n${parts.join("\n")}\n`;
}

/** Pure: the facts of each probe from the batched output (renderProbes), in order. */
export function parseProbeOutput(stdout: string, count: number): HostFacts[] {
  const sections: HostFacts[] = Array.from({ length: count }, () => ({}));
  let current: HostFacts | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith(`${SECTION_MARK} `)) {
      current = sections[Number(line.slice(SECTION_MARK.length + 1))];
      continue;
    }
    const separator = line.indexOf("=");
    if (current !== undefined && separator > 0) {
      current[line.slice(0, separator)] = line.slice(separator + 1).trim();
    }
  }
  return sections;
}

/** Pure: how `observed` differs from `recorded`, one line per fact ("daemon.json: 1a2b → missing"). */
export function describeDrift(recorded: HostFacts, observed: HostFacts): string[] {
  if (observed === UNREACHABLE || observed.host === UNREACHABLE.host) {
    return ["the host cannot be reached (gone, or another machine answers at its address)"];
  }
  const keys = [...new Set([...Object.keys(recorded), ...Object.keys(observed)])].sort();
  return keys
    .filter((key) => recorded[key] !== observed[key])
    .map((key) => `${key}: ${recorded[key] || "(none)"} → ${observed[key] || "(none)"}`);
}

/** Whether the last refresh found the host differing from what the step left there. */
export function hasDrifted(olds: ProbedOutputs): boolean {
  return (olds.drift?.length ?? 0) > 0;
}

/**
 * The provider of a step that lives on a host, made to tell the truth: create and update record
 * what the step left on the host (the probe's facts); `pulumi refresh` reads them again and keeps
 * any difference as `drift`, which shows as a change of the resource; the next `up` sees the drift
 * as an update, and the step's own update, which is safe to repeat, repairs the host. State written
 * before facts were recorded reads as it is: the step's next run records them.
 */
export function withHostFacts<Inputs, Outputs extends { connection: SshConnectionArgs }>(
  provider: pulumi.dynamic.ResourceProvider<Inputs, Outputs>,
  probe: (outs: Outputs) => FactsProbe,
): pulumi.dynamic.ResourceProvider<Inputs, Outputs & ProbedOutputs> {
  const record = async (outs: Outputs): Promise<Outputs & ProbedOutputs> => ({
    ...outs,
    facts: await readHostFacts(outs.connection, probe(outs)),
    drift: [],
  });
  return {
    ...provider,
    async create(inputs) {
      const result = await provider.create(inputs);
      return { ...result, outs: await record(result.outs!) };
    },
    async read(id, props) {
      if (props?.facts === undefined) return { id, props };
      const observed = await readHostFacts(props.connection, probe(props));
      return { id, props: { ...props, drift: describeDrift(props.facts, observed) } };
    },
    async diff(id, olds, news) {
      const diff = (await provider.diff?.(id, olds, news)) ?? {};
      return { ...diff, changes: diff.changes === true || hasDrifted(olds) };
    },
    async update(id, olds, news) {
      const result = await provider.update!(id, olds, news);
      return { ...result, outs: await record(result.outs!) };
    },
  };
}
