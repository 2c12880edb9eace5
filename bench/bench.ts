import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { openStack, removeStackCompletely, ROOT, writeStackConfig } from "../test/helpers/stack";
import { runCommand } from "../test/helpers/docker";
import { type AnsibleRound, checkRecap, prepareAnsibleHosts, runAnsiblePlaybook } from "./ansible";
import { type BenchHostsArgs, removeBenchHosts, spareAddress } from "./hosts";
import { type CpuSample, describeMachine, startCpuMeasure } from "./measure";
import { runNaiveBaseline } from "./naive";
import { runInstallFloor } from "./floor";
import { roundOrder } from "./order";
import {
  type BenchResults,
  renderBenchmarkDoc,
  renderChartSvg,
  renderResultsMarkdown,
  renderScalingSvg,
  renderTable,
  renderTargetVerdict,
  type Sample,
  scalingLines,
  type ScenarioId,
} from "./report";

/**
 * `npm run bench -- --hosts 1,3,5 --runs 3`: times ready environments on the local driver with
 * dockfleet (install path and Docker-preinstalled image) against the naive baseline, Ansible,
 * dockfleet one host at a time and the install path's floor (bench/floor.ts), and writes bench/results/benchmark.{json,md,svg} and
 * docs/benchmark.md. Stops by itself: every `up` has a time limit, and no new step starts after
 * --max-minutes.
 */

type Kind = "dockfleet" | "preinstalled" | "sequential" | "naive" | "ansible" | "floor";

const KINDS: Record<Kind, { stack: string; subnet: string }> = {
  dockfleet: { stack: "benchparallel", subnet: "172.30.81.0/24" },
  sequential: { stack: "benchsequential", subnet: "172.30.82.0/24" },
  naive: { stack: "benchnaive", subnet: "172.30.83.0/24" },
  preinstalled: { stack: "benchpreinstalled", subnet: "172.30.94.0/26" },
  ansible: { stack: "benchansible", subnet: "172.30.94.64/26" },
  floor: { stack: "benchfloor", subnet: "172.30.94.128/26" },
};

const DOCKFLEET_KINDS = ["dockfleet", "preinstalled", "sequential"] as const;

/** The largest environment the bench subnets hold with room to spare (the smallest is a /26). */
const MAX_HOSTS = 30;

/**
 * The run kept under `resultsDir` (a folder "<date>-...", benchmark.json inside) whose scaling
 * curve spans the most host counts, the newest of those: docs/benchmark.md points to it when the
 * latest run has none. A short curve of a later run (1 and 2 hosts) does not hide a longer one.
 */
function widestScalingRun(resultsDir: string): string | undefined {
  const curves = fs
    .readdirSync(resultsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^\d{4}-\d\d-\d\d-/.test(entry.name))
    .map((entry) => entry.name)
    .flatMap((name) => {
      const file = path.join(resultsDir, name, "benchmark.json");
      if (!fs.existsSync(file)) return [];
      const results = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
      const points = Math.max(0, ...scalingLines(results).map((line) => line.points.length));
      return points > 0 ? [{ name, points }] : [];
    });
  curves.sort((a, b) => b.points - a.points || b.name.localeCompare(a.name));
  return curves[0]?.name;
}

function addSamples(a: CpuSample, b: CpuSample): CpuSample {
  return {
    wallSeconds: a.wallSeconds + b.wallSeconds,
    cpuSeconds: a.cpuSeconds + b.cpuSeconds,
    machineBusySeconds: a.machineBusySeconds + b.machineBusySeconds,
  };
}

const USAGE = `usage: npm run bench -- [--hosts 1,3,5] [--runs 3]
                          [--kinds dockfleet,preinstalled,naive,ansible,floor,sequential]
                          [--peers-at 5]   (host counts where kinds other than dockfleet run)
                          [--max-minutes 180] [--op-timeout-minutes 20] [--note TEXT] [--no-docs]
       npm run bench -- --render-only   (rewrite the tables, chart and docs from benchmark.json)`;

interface Options {
  hosts: number[];
  runs: number;
  kinds: Kind[];
  /** Host counts at which the kinds other than dockfleet run (the scaling curve is dockfleet's). */
  peersAt: number[];
  maxMinutes: number;
  opTimeoutMinutes: number;
  note?: string;
  writeDocs: boolean;
  renderOnly: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: "string", default: "1,3,5" },
      runs: { type: "string", default: "3" },
      kinds: { type: "string", default: "dockfleet,preinstalled,naive,ansible,floor" },
      "peers-at": { type: "string" },
      "max-minutes": { type: "string", default: "180" },
      "op-timeout-minutes": { type: "string", default: "20" },
      note: { type: "string" },
      "no-docs": { type: "boolean", default: false },
      "render-only": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const positive = (name: string, text: string, max: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > max) {
      throw new Error(
        `--${name} ${JSON.stringify(text)}: give a whole number from 1 to ${max}\n${USAGE}`,
      );
    }
    return value;
  };
  const kinds = values.kinds.split(",").map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!(kind in KINDS)) {
      throw new Error(
        `--kinds: "${kind}" is not one of ${Object.keys(KINDS).join(", ")}\n${USAGE}`,
      );
    }
  }
  const counts = (name: string, text: string) =>
    text.split(",").map((count) => positive(name, count.trim(), MAX_HOSTS));
  const hosts = counts("hosts", values.hosts);
  const peersAt = values["peers-at"] === undefined ? hosts : counts("peers-at", values["peers-at"]);
  for (const count of peersAt) {
    if (!hosts.includes(count)) {
      throw new Error(`--peers-at ${count}: not one of --hosts ${hosts.join(",")}\n${USAGE}`);
    }
  }
  return {
    hosts,
    peersAt,
    runs: positive("runs", values.runs, 10),
    kinds: kinds as Kind[],
    maxMinutes: positive("max-minutes", values["max-minutes"], 24 * 60),
    opTimeoutMinutes: positive("op-timeout-minutes", values["op-timeout-minutes"], 240),
    note: values.note,
    writeDocs: !values["no-docs"],
    renderOnly: values["render-only"],
  };
}

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function describeSample(sample: Sample, cores: number): string {
  return (
    `run ${sample.run} hosts=${sample.hosts} ${sample.scenario}: ${sample.wallSeconds.toFixed(1)} s wall, ` +
    `${sample.cpuSeconds.toFixed(1)} CPU-s (CPU-bound limit ${(sample.cpuSeconds / cores).toFixed(1)} s), ` +
    `machine busy ${sample.machineBusySeconds.toFixed(1)} CPU-s`
  );
}

class Bench {
  readonly results: BenchResults;
  private readonly deadline: number;
  /** The fresh host image the kinds that make their own hosts start from (npm run bench sets it). */
  private readonly hostImage = process.env.DOCKFLEET_HOST_IMAGE ?? "";

  constructor(
    private readonly options: Options,
    private readonly outDir: string,
  ) {
    this.deadline = Date.now() + options.maxMinutes * 60_000;
    const scenarios: ScenarioId[] = [];
    if (options.kinds.includes("dockfleet")) {
      scenarios.push(
        "dockfleet",
        "dockfleet-noop",
        "dockfleet-refresh",
        "dockfleet-mirror-change",
        "dockfleet-destroy",
      );
    }
    if (options.kinds.includes("preinstalled")) scenarios.push("dockfleet-preinstalled");
    if (options.kinds.includes("sequential")) scenarios.push("dockfleet-sequential");
    if (options.kinds.includes("naive")) scenarios.push("naive");
    if (options.kinds.includes("floor")) scenarios.push("install-floor");
    if (options.kinds.includes("ansible")) {
      scenarios.push("ansible", "ansible-bootstrap", "ansible-noop", "ansible-mirror-change");
    }
    this.results = {
      startedAt: new Date().toISOString(),
      machine: describeMachine(),
      options: { hosts: options.hosts, runs: options.runs, scenarios },
      samples: [],
      note: options.note,
    };
  }

  get timeLeft(): boolean {
    return Date.now() < this.deadline;
  }

  private record(sample: Sample): void {
    this.results.samples.push(sample);
    progress(describeSample(sample, this.results.machine.cores));
  }

  /** An Automation API operation with the per-operation time limit. */
  private limit(): AbortSignal {
    return AbortSignal.timeout(this.options.opTimeoutMinutes * 60_000);
  }

  /**
   * Times the command an operator runs, as bin/up runs it: `pulumi up|refresh --yes
   * --skip-preview`. Not the Automation API's up(), which after the command reads the outputs
   * twice and the history once (three more CLI runs, 1.3-1.5 s on 5 hosts), for its own result
   * object. `--expect-no-changes` makes the CLI itself fail a run that was to change nothing
   * and changed something.
   */
  private async timedPulumi(
    stackName: string,
    scenario: ScenarioId,
    hosts: number,
    run: number,
    command: "up" | "refresh" | "destroy",
    extraArgs: string[] = [],
  ) {
    const measure = await startCpuMeasure(stackName);
    const args = [command, "--stack", stackName, "--yes", "--skip-preview", "--non-interactive"];
    const result = await runCommand("pulumi", [...args, ...extraArgs], {
      cwd: ROOT,
      timeoutMs: this.options.opTimeoutMinutes * 60_000,
    });
    const sample = await measure.finish();
    if (result.code !== 0) {
      const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-20).join("\n");
      throw new Error(
        `${scenario}: pulumi ${args.join(" ")} ${extraArgs.join(" ")} failed:\n${tail}`,
      );
    }
    this.record({ scenario, hosts, run, ...sample });
  }

  async runDockfleet(kind: (typeof DOCKFLEET_KINDS)[number], hosts: number, run: number) {
    const { stack: stackName, subnet } = KINDS[kind];
    const config = (mirrors: string[]) => ({
      hosts,
      local: { subnet, ...(kind === "preinstalled" ? { image: "docker" } : {}) },
      engine: { registryMirrors: mirrors },
    });
    writeStackConfig(stackName, config([]));
    const stack = await openStack(stackName);
    try {
      const up = (scenario: ScenarioId, extraArgs: string[] = []) =>
        this.timedPulumi(stackName, scenario, hosts, run, "up", extraArgs);
      if (kind === "sequential") {
        await up("dockfleet-sequential", ["--parallel", "1"]);
        return;
      }
      if (kind === "preinstalled") {
        // Its day 2 runs the same steps as the install path's: only the create differs.
        await up("dockfleet-preinstalled");
        return;
      }
      await up("dockfleet");
      await up("dockfleet-noop", ["--expect-no-changes"]);
      // Every step read from its host; drift would be a change.
      await this.timedPulumi(stackName, "dockfleet-refresh", hosts, run, "refresh", [
        "--expect-no-changes",
      ]);
      // A mirror that need not exist: only daemon.json changes and dockerd reloads it.
      writeStackConfig(stackName, config([`http://${spareAddress(subnet)}:5000`]));
      await up("dockfleet-mirror-change");
      await this.timedPulumi(stackName, "dockfleet-destroy", hosts, run, "destroy");
    } finally {
      // After a failure: what the timed destroy did not get to.
      await stack.destroy({ signal: this.limit() });
    }
  }

  /**
   * Times one kind that makes its own hosts (the naive loop, the floor) as one sample of
   * `scenario`, and removes its hosts whatever happens.
   */
  private async timedHostsRun(
    kind: "naive" | "floor",
    scenario: ScenarioId,
    hosts: number,
    run: number,
    create: (hostsArgs: BenchHostsArgs) => Promise<void>,
  ) {
    const { stack, subnet } = KINDS[kind];
    const measure = await startCpuMeasure(stack);
    try {
      await create({ stack, hosts, subnet, image: this.hostImage });
      this.record({ scenario, hosts, run, ...(await measure.finish()) });
    } finally {
      await removeBenchHosts(stack);
    }
  }

  runNaive(hosts: number, run: number) {
    return this.timedHostsRun("naive", "naive", hosts, run, (hostsArgs) =>
      runNaiveBaseline({
        ...hostsArgs,
        commandTimeoutMs: this.options.opTimeoutMinutes * 60_000,
        progress,
      }),
    );
  }

  /** The install path's floor (bench/floor.ts): hosts, then apt-get in each, nothing else. */
  runFloor(hosts: number, run: number) {
    return this.timedHostsRun("floor", "install-floor", hosts, run, runInstallFloor);
  }

  /**
   * Ansible: the hosts (created all at once, like dockfleet's), python3 where the image lacks it
   * (its own row), the engine playbook; then the playbook again with no change, and with only
   * the mirror list changed. The create row is the hosts plus the first engine playbook.
   */
  async runAnsible(hosts: number, run: number) {
    const { stack, subnet } = KINDS.ansible;
    const timeoutMs = this.options.opTimeoutMinutes * 60_000;
    const names = Array.from({ length: hosts }, (_, index) => `host-${index + 1}`);
    let round: AnsibleRound | undefined;
    try {
      const creating = await startCpuMeasure(stack);
      const made = await prepareAnsibleHosts({
        stack,
        hosts,
        subnet,
        image: this.hostImage,
      });
      round = made;
      const hostsMade = await creating.finish();
      const bootstrapping = await startCpuMeasure(stack);
      checkRecap(await runAnsiblePlaybook(made, "bootstrap.yml", {}, timeoutMs), names, "every");
      this.record({
        scenario: "ansible-bootstrap",
        hosts,
        run,
        ...(await bootstrapping.finish()),
      });
      const engine = async (
        scenario: "ansible" | "ansible-noop" | "ansible-mirror-change",
        mirrors: string[],
        changes: "none" | "every",
      ) => {
        const measure = await startCpuMeasure(stack);
        const recap = await runAnsiblePlaybook(
          made,
          "engine.yml",
          { docker_registry_mirrors: mirrors },
          timeoutMs,
        );
        const sample = await measure.finish();
        checkRecap(recap, names, changes);
        this.record({
          scenario,
          hosts,
          run,
          ...(scenario === "ansible" ? addSamples(hostsMade, sample) : sample),
        });
      };
      await engine("ansible", [], "every");
      await engine("ansible-noop", [], "none");
      await engine("ansible-mirror-change", [`http://${spareAddress(subnet)}:5000`], "every");
      fs.rmSync(made.dir, { recursive: true, force: true });
    } catch (error) {
      if (round) progress(`ansible: the playbooks' output is kept in ${round.dir}`);
      throw error;
    } finally {
      await removeBenchHosts(stack);
    }
  }

  /** Leftovers of an interrupted benchmark are removed before anything is timed. */
  async cleanUp(): Promise<void> {
    for (const kind of DOCKFLEET_KINDS) {
      const stackName = KINDS[kind].stack;
      writeStackConfig(stackName, { hosts: 1, local: { subnet: KINDS[kind].subnet } });
      await removeStackCompletely(await openStack(stackName), stackName);
    }
    await removeBenchHosts(KINDS.naive.stack);
    await removeBenchHosts(KINDS.ansible.stack);
    await removeBenchHosts(KINDS.floor.stack);
  }

  writeResults(): void {
    fs.mkdirSync(this.outDir, { recursive: true });
    fs.writeFileSync(
      path.join(this.outDir, "benchmark.json"),
      `${JSON.stringify(this.results, null, 2)}\n`,
    );
    fs.writeFileSync(path.join(this.outDir, "benchmark.md"), renderResultsMarkdown(this.results));
    fs.writeFileSync(path.join(this.outDir, "benchmark.svg"), renderChartSvg(this.results));
    const scaling = path.join(this.outDir, "scaling.svg");
    if (scalingLines(this.results).length > 0) {
      fs.writeFileSync(scaling, renderScalingSvg(this.results));
    } else {
      fs.rmSync(scaling, { force: true });
    }
    if (this.options.writeDocs) {
      fs.writeFileSync(
        path.join(ROOT, "docs", "benchmark.md"),
        renderBenchmarkDoc(this.results, widestScalingRun(this.outDir)),
      );
    }
  }

  async runAll(): Promise<void> {
    const { hosts: hostCounts, runs, kinds } = this.options;
    for (let run = 1; run <= runs; run++) {
      for (const hosts of hostCounts) {
        // No kind always runs first, or always right after the same other kind (bench/order.ts).
        const here = this.options.peersAt.includes(hosts)
          ? kinds
          : kinds.filter((kind) => kind === "dockfleet");
        const order = roundOrder(here, run);
        for (const kind of order) {
          if (!this.timeLeft) {
            this.results.stoppedEarly = `--max-minutes ${this.options.maxMinutes} reached before run ${run}, ${hosts} hosts, ${kind}`;
            return;
          }
          progress(`run ${run}/${runs} hosts=${hosts} ${kind}: starting`);
          if (kind === "naive") await this.runNaive(hosts, run);
          else if (kind === "ansible") await this.runAnsible(hosts, run);
          else if (kind === "floor") await this.runFloor(hosts, run);
          else await this.runDockfleet(kind, hosts, run);
        }
        this.writeResults();
      }
    }
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const bench = new Bench(options, path.join(ROOT, "bench", "results"));
  if (options.renderOnly) {
    const saved = path.join(ROOT, "bench", "results", "benchmark.json");
    Object.assign(bench.results, JSON.parse(fs.readFileSync(saved, "utf8")) as BenchResults);
    bench.writeResults();
    progress(`rewrote bench/results/ and docs/benchmark.md from ${saved}`);
    return;
  }
  for (const name of [
    "DOCKFLEET_HOST_IMAGE",
    "DOCKFLEET_DOCKER_HOST_IMAGE",
    "PULUMI_BACKEND_URL",
  ]) {
    if (!process.env[name])
      throw new Error(`${name} is unset: run the benchmark with npm run bench`);
  }
  progress(
    `hosts ${options.hosts.join(",")}, ${options.runs} run(s), kinds ${options.kinds.join(",")}, ` +
      `stops by ${new Date(Date.now() + options.maxMinutes * 60_000).toISOString().slice(11, 19)} UTC`,
  );
  await bench.cleanUp();
  try {
    await bench.runAll();
  } catch (error) {
    bench.results.stoppedEarly = (error as Error).message.split("\n")[0];
    throw error;
  } finally {
    bench.writeResults();
    await bench
      .cleanUp()
      .catch((error) => progress(`clean-up failed: ${(error as Error).message}`));
    process.stdout.write(
      `\n${renderTable(bench.results)}\n\n${renderTargetVerdict(bench.results)}\n`,
    );
    progress(`results in bench/results/ (benchmark.md, benchmark.svg, benchmark.json)`);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.message}\n`);
  process.exit(1);
});
