/**
 * Pure rendering of benchmark results: medians, ratios, the markdown table, the SVG chart and
 * docs/benchmark.md. No I/O here; bench/bench.ts writes what these return.
 */

/** What was timed. */
export type ScenarioId =
  | "dockfleet"
  | "dockfleet-preinstalled"
  | "dockfleet-sequential"
  | "naive"
  | "install-floor"
  | "ansible"
  | "ansible-bootstrap"
  | "dockfleet-noop"
  | "ansible-noop"
  | "dockfleet-refresh"
  | "dockfleet-mirror-change"
  | "ansible-mirror-change"
  | "dockfleet-destroy";

export const SCENARIO_LABELS: Record<ScenarioId, string> = {
  dockfleet: "dockfleet `up` (hosts in parallel)",
  "dockfleet-preinstalled": "dockfleet `up`, local.image docker (Docker preinstalled)",
  "dockfleet-sequential": "dockfleet `up --parallel 1` (one host after another)",
  naive: "naive: docker.io with recommends over SSH, one host after another",
  "install-floor":
    "floor: hosts, then `apt-get install docker.io` in all at once (no SSH, TLS or dockerd start)",
  ansible: "Ansible: hosts, then the engine playbook (forks = hosts)",
  "ansible-bootstrap": "Ansible: python3 bootstrap (raw), when the image lacks python3",
  "dockfleet-noop": "dockfleet second `up`, no change",
  "ansible-noop": "Ansible: engine playbook again, no change",
  "dockfleet-refresh": "dockfleet `refresh` (every step read from its host)",
  "dockfleet-mirror-change": "dockfleet `up` changing only the mirror list",
  "ansible-mirror-change": "Ansible: engine playbook changing only the mirror list",
  "dockfleet-destroy": "dockfleet `destroy`",
};

/** The scenarios that build a ready environment from nothing, compared with each other. */
export const FULL_SCENARIOS: readonly ScenarioId[] = [
  "dockfleet",
  "dockfleet-preinstalled",
  "dockfleet-sequential",
  "naive",
  "ansible",
];

/** What each dockfleet scenario is compared with on the Ansible side (wall vs Ansible). */
export const ANSIBLE_COUNTERPART: Partial<Record<ScenarioId, ScenarioId>> = {
  dockfleet: "ansible",
  "dockfleet-preinstalled": "ansible",
  "dockfleet-noop": "ansible-noop",
  "dockfleet-mirror-change": "ansible-mirror-change",
};

/** The create's target: at most this share of Ansible's create (wall time, same run). */
const CREATE_VS_ANSIBLE = 0.6;

/** The issue's targets against Ansible (wall time, same run, 5 hosts, the install path). */
export const ANSIBLE_TARGETS: readonly { scenario: ScenarioId; maxRatio: number }[] = [
  { scenario: "dockfleet", maxRatio: CREATE_VS_ANSIBLE },
  { scenario: "dockfleet-noop", maxRatio: 0.25 },
];

export interface Sample {
  scenario: ScenarioId;
  hosts: number;
  run: number;
  wallSeconds: number;
  /** The benchmark's process tree plus the host containers' cgroups. */
  cpuSeconds: number;
  /** The whole machine's busy CPU time over the same interval (others' load included). */
  machineBusySeconds: number;
}

export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  os: string;
}

export interface BenchResults {
  /** ISO date-time the run started. */
  startedAt: string;
  machine: MachineDescription;
  options: { hosts: number[]; runs: number; scenarios: ScenarioId[] };
  samples: Sample[];
  /** Set when the run stopped early (deadline, failure). */
  stoppedEarly?: string;
  /** Free text shown in the report (e.g. "smoke run on a busy machine"). */
  note?: string;
}

export interface Summary {
  scenario: ScenarioId;
  hosts: number;
  runs: number;
  medianWallSeconds: number;
  medianCpuSeconds: number;
  /** The shortest wall time the CPU work allows: CPU seconds / cores. */
  cpuBoundSeconds: number;
  medianMachineBusySeconds: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function summarize(results: BenchResults): Summary[] {
  const keys = new Map<string, Sample[]>();
  for (const sample of results.samples) {
    const key = `${sample.hosts}|${sample.scenario}`;
    keys.set(key, [...(keys.get(key) ?? []), sample]);
  }
  const order = Object.keys(SCENARIO_LABELS);
  return [...keys.values()]
    .map((samples): Summary => {
      const cpu = median(samples.map((s) => s.cpuSeconds));
      return {
        scenario: samples[0].scenario,
        hosts: samples[0].hosts,
        runs: samples.length,
        medianWallSeconds: median(samples.map((s) => s.wallSeconds)),
        medianCpuSeconds: cpu,
        cpuBoundSeconds: cpu / results.machine.cores,
        medianMachineBusySeconds: median(samples.map((s) => s.machineBusySeconds)),
      };
    })
    .sort((a, b) => a.hosts - b.hosts || order.indexOf(a.scenario) - order.indexOf(b.scenario));
}

/** Every host count measured, smallest first. */
function hostCountsOf(summaries: Summary[]): number[] {
  return [...new Set(summaries.map((s) => s.hosts))].sort((a, b) => a - b);
}

function find(summaries: Summary[], hosts: number, scenario: ScenarioId) {
  return summaries.find((s) => s.hosts === hosts && s.scenario === scenario);
}

/** Median wall time of one scenario divided by another's, at the same host count. */
function wallRatio(summaries: Summary[], hosts: number, own: ScenarioId, other: ScenarioId) {
  const a = find(summaries, hosts, own);
  const b = find(summaries, hosts, other);
  return a && b ? a.medianWallSeconds / b.medianWallSeconds : undefined;
}

/** Wall time of dockfleet divided by the naive baseline's, per host count. */
export function ratioToNaive(summaries: Summary[], hosts: number, scenario: ScenarioId) {
  return wallRatio(summaries, hosts, scenario, "naive");
}

/** Wall time of a dockfleet scenario divided by its Ansible counterpart's, per host count. */
export function ratioToAnsible(summaries: Summary[], hosts: number, scenario: ScenarioId) {
  const counterpart = ANSIBLE_COUNTERPART[scenario];
  return counterpart && wallRatio(summaries, hosts, scenario, counterpart);
}

/** One line per target against Ansible, per host count where both sides were measured. */
export function renderAnsibleVerdicts(results: BenchResults): string[] {
  const summaries = summarize(results);
  const hostCounts = hostCountsOf(summaries);
  return ANSIBLE_TARGETS.flatMap(({ scenario, maxRatio }) =>
    hostCounts.flatMap((hosts) => {
      const value = ratioToAnsible(summaries, hosts, scenario);
      if (value === undefined) return [];
      const counterpart = ANSIBLE_COUNTERPART[scenario] as ScenarioId;
      return [
        `- ${hosts} host(s), ${SCENARIO_LABELS[scenario]}: ${value.toFixed(2)}x ` +
          `${SCENARIO_LABELS[counterpart]} (target at most ${maxRatio}x): ` +
          `${value <= maxRatio ? "met" : "NOT met"}.`,
      ];
    }),
  );
}

/** Day-2 operations as a share of creating the environment (wall time, same run and hosts). */
export const DAY2_TARGETS: readonly { scenario: ScenarioId; maxShare: number }[] = [
  { scenario: "dockfleet-noop", maxShare: 0.1 },
  { scenario: "dockfleet-refresh", maxShare: 0.1 },
  { scenario: "dockfleet-mirror-change", maxShare: 0.2 },
];

/** Wall time of a day-2 scenario divided by the create's (`dockfleet`), per host count. */
export function shareOfCreate(summaries: Summary[], hosts: number, scenario: ScenarioId) {
  const own = find(summaries, hosts, scenario);
  const create = find(summaries, hosts, "dockfleet");
  return own && create ? own.medianWallSeconds / create.medianWallSeconds : undefined;
}

/**
 * The host counts the targets are judged at: the issue's 5 hosts when they were measured (the
 * scaling curve shows the others), else every one.
 */
function targetHostCounts(summaries: Summary[]): number[] {
  const all = hostCountsOf(summaries);
  return all.includes(TARGET.hosts) ? [TARGET.hosts] : all;
}

/** One line per day-2 target: the share of a create, met or not, at the target's host count. */
export function renderDay2Verdicts(results: BenchResults): string[] {
  const summaries = summarize(results);
  const hostCounts = targetHostCounts(summaries);
  return DAY2_TARGETS.flatMap(({ scenario, maxShare }) =>
    hostCounts.flatMap((hosts) => {
      const share = shareOfCreate(summaries, hosts, scenario);
      if (share === undefined) return [];
      const verdict = share <= maxShare ? "met" : "NOT met";
      return [
        `- ${hosts} host(s), ${SCENARIO_LABELS[scenario]}: ${(share * 100).toFixed(1)}% of a ` +
          `create (target at most ${maxShare * 100}%): ${verdict}.`,
      ];
    }),
  );
}

/** The issue's target: 5 hosts in at most 0.4x the naive baseline's time. */
export const TARGET = { hosts: 5, maxRatio: 0.4 };

const seconds = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : "n/a");
const ratio = (value: number | undefined) => (value === undefined ? "" : `${value.toFixed(2)}x`);

export function renderTable(results: BenchResults): string {
  const summaries = summarize(results);
  const rows = summaries.map((s) => {
    const vsNaive =
      s.scenario === "naive" || !FULL_SCENARIOS.includes(s.scenario)
        ? ""
        : ratio(ratioToNaive(summaries, s.hosts, s.scenario));
    const vsAnsible = ratio(ratioToAnsible(summaries, s.hosts, s.scenario));
    return `| ${s.hosts} | ${SCENARIO_LABELS[s.scenario]} | ${s.runs} | ${seconds(s.medianWallSeconds)} | ${seconds(
      s.medianCpuSeconds,
    )} | ${seconds(s.cpuBoundSeconds)} | ${seconds(s.medianMachineBusySeconds)} | ${vsNaive} | ${vsAnsible} |`;
  });
  return [
    "| hosts | scenario | runs | median wall (s) | median CPU (s) | CPU-bound limit (s) | machine busy (s) | wall vs naive | wall vs Ansible |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
}

/** One line on the issue's target, or why it cannot be judged from these results. */
export function renderTargetVerdict(results: BenchResults): string {
  const value = ratioToNaive(summarize(results), TARGET.hosts, "dockfleet");
  if (value === undefined) {
    return `Target (${TARGET.hosts} hosts in at most ${TARGET.maxRatio}x the naive time): not measured in this run.`;
  }
  const met = value <= TARGET.maxRatio ? "met" : "NOT met";
  return `Target (${TARGET.hosts} hosts in at most ${TARGET.maxRatio}x the naive time): ${met}, ${value.toFixed(2)}x.`;
}

export function renderMachine(results: BenchResults): string {
  const m = results.machine;
  return `${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB RAM, ${m.os}, kernel ${m.kernel}`;
}

/**
 * One line per host count where the floor, dockfleet and Ansible were all measured: how much of
 * each create is the tool's own (over the floor), and how much of the 0.6x target the floor
 * alone takes.
 */
export function renderFloorLines(results: BenchResults): string[] {
  const summaries = summarize(results);
  const hostCounts = hostCountsOf(summaries);
  return hostCounts.flatMap((hosts) => {
    const floor = find(summaries, hosts, "install-floor")?.medianWallSeconds;
    const own = find(summaries, hosts, "dockfleet")?.medianWallSeconds;
    const ansible = find(summaries, hosts, "ansible")?.medianWallSeconds;
    if (floor === undefined || own === undefined || ansible === undefined) return [];
    const targetSeconds = CREATE_VS_ANSIBLE * ansible;
    return [
      `- ${hosts} host(s): the floor took ${seconds(floor)} s; dockfleet's create ` +
        `${seconds(own)} s (${seconds(own - floor)} s its own), Ansible's ${seconds(ansible)} s ` +
        `(${seconds(ansible - floor)} s its own). ${CREATE_VS_ANSIBLE}x Ansible is ${seconds(targetSeconds)} s, ` +
        `of which the floor alone takes ${((floor / targetSeconds) * 100).toFixed(0)}%.`,
    ];
  });
}

/** The figures both reports show: tables, verdicts against each target and the scaling chart. */
function renderFigures(results: BenchResults, scalingChart: string): string[] {
  const floor = renderFloorLines(results);
  return [
    ...(results.note ? ["", `Note: ${results.note}`] : []),
    ...(results.stoppedEarly ? ["", `Stopped early: ${results.stoppedEarly}`] : []),
    "",
    renderTable(results),
    "",
    renderTargetVerdict(results),
    "",
    "Day 2, as a share of the create in the same run:",
    "",
    ...renderDay2Verdicts(results),
    "",
    "Against Ansible, in the same run:",
    "",
    ...renderAnsibleVerdicts(results),
    ...(floor.length > 0
      ? [
          "",
          "The install path's floor, in the same run (what each create adds to it is the tool's own):",
          "",
          ...floor,
        ]
      : []),
    ...renderScalingSection(results, scalingChart),
  ];
}

export function renderResultsMarkdown(results: BenchResults): string {
  return [
    "# dockfleet benchmark results",
    "",
    `Run started ${results.startedAt} on ${renderMachine(results)}.`,
    `Options: hosts ${results.options.hosts.join(", ")}; ${results.options.runs} run(s) each.`,
    ...renderFigures(results, "scaling.svg"),
    "",
    "CPU-bound limit = median CPU seconds / cores: no schedule on this machine finishes faster.",
    "CPU counts the benchmark's process tree (Pulumi CLI, language host, providers, docker and ssh",
    "clients) and the host containers' cgroups; machine busy is /proc/stat for the whole machine,",
    "other work on it included.",
    "",
    "![wall time per scenario](benchmark.svg)",
    "",
  ].join("\n");
}

/** A bar of the chart: which tool, in which phase; Ansible's bootstrap sits on its create bar. */
const CHART_BARS: readonly { scenario: ScenarioId; phase: string; tool: string }[] = [
  { scenario: "dockfleet", phase: "create", tool: "dockfleet" },
  { scenario: "dockfleet-preinstalled", phase: "create", tool: "dockfleet-preinstalled" },
  { scenario: "dockfleet-sequential", phase: "create", tool: "dockfleet-sequential" },
  { scenario: "naive", phase: "create", tool: "naive" },
  { scenario: "ansible", phase: "create", tool: "ansible" },
  { scenario: "install-floor", phase: "create", tool: "install-floor" },
  { scenario: "dockfleet-noop", phase: "no change", tool: "dockfleet" },
  { scenario: "ansible-noop", phase: "no change", tool: "ansible" },
  { scenario: "dockfleet-mirror-change", phase: "mirror change", tool: "dockfleet" },
  { scenario: "ansible-mirror-change", phase: "mirror change", tool: "ansible" },
];

const TOOLS: Record<string, { color: string; legend: string }> = {
  dockfleet: { color: "#2b7bb9", legend: "dockfleet (parallel)" },
  "dockfleet-preinstalled": { color: "#5cb85c", legend: "dockfleet, Docker preinstalled" },
  "dockfleet-sequential": { color: "#8fbce0", legend: "dockfleet, one host at a time" },
  naive: { color: "#d9534f", legend: "naive (docker-machine-like loop)" },
  ansible: { color: "#f0ad4e", legend: "Ansible (forks = hosts)" },
  "ansible-bootstrap": { color: "#f8dcae", legend: "Ansible's python3 bootstrap" },
  "install-floor": { color: "#999999", legend: "floor: apt-get only, every host at once" },
};

/** A chart's value axis: gridline step and top for values up to `maxValue`. */
function axisScale(maxValue: number): { step: number; top: number } {
  const step = maxValue > 400 ? 100 : maxValue > 200 ? 50 : maxValue > 80 ? 20 : 10;
  return { step, top: Math.ceil(maxValue / step) * step };
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c] ?? c,
  );
}

/**
 * Grouped bars: median wall time per host count and phase (create, no change, mirror change),
 * one bar per tool; Ansible's python3 bootstrap is stacked on its create bar; a dark tick marks
 * each bar's CPU-bound limit.
 */
export function renderChartSvg(results: BenchResults): string {
  const summaries = summarize(results);
  const hostCounts = comparedHostCounts(summaries);
  const bootstrap = (hosts: number) => find(summaries, hosts, "ansible-bootstrap");
  const groups = hostCounts.flatMap((hosts) =>
    [...new Set(CHART_BARS.map((bar) => bar.phase))].flatMap((phase) => {
      const bars = CHART_BARS.filter((bar) => bar.phase === phase).flatMap((bar) => {
        const summary = find(summaries, hosts, bar.scenario);
        return summary ? [{ ...bar, summary }] : [];
      });
      return bars.length > 0 ? [{ hosts, phase, bars }] : [];
    }),
  );
  const width = Math.max(780, 80 + groups.reduce((sum, g) => sum + 30 + g.bars.length * 44, 0));
  const height = 380;
  const margin = { top: 40, right: 20, bottom: 110, left: 60 };
  const plotHeight = height - margin.top - margin.bottom;
  const barTop = (hosts: number, bar: { scenario: ScenarioId; summary: Summary }) =>
    bar.summary.medianWallSeconds +
    (bar.scenario === "ansible" ? (bootstrap(hosts)?.medianWallSeconds ?? 0) : 0);
  const maxValue = Math.max(1, ...groups.flatMap((g) => g.bars.map((bar) => barTop(g.hosts, bar))));
  const { step, top } = axisScale(maxValue);
  const y = (value: number) =>
    Math.round((margin.top + plotHeight - (value / top) * plotHeight) * 10) / 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">Ready Docker hosts and day 2: median wall time (s), ${escapeXml(results.startedAt.slice(0, 10))}</text>`,
  ];
  for (let value = 0; value <= top; value += step) {
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`,
      `<text x="${margin.left - 6}" y="${y(value) + 4}" text-anchor="end">${value}</text>`,
    );
  }
  const barWidth = 40;
  const rect = (x: number, from: number, to: number, color: string, title: string) =>
    `<rect x="${x.toFixed(1)}" y="${y(to).toFixed(1)}" width="${barWidth}" height="${(y(from) - y(to)).toFixed(1)}" fill="${color}"><title>${escapeXml(title)}</title></rect>`;
  let x = margin.left + 20;
  for (const group of groups) {
    const groupStart = x;
    for (const bar of group.bars) {
      const s = bar.summary;
      const label = `${group.hosts} hosts, ${bar.scenario}: ${seconds(s.medianWallSeconds)} s wall, CPU-bound limit ${seconds(s.cpuBoundSeconds)} s`;
      parts.push(rect(x, 0, s.medianWallSeconds, TOOLS[bar.tool].color, label));
      const extra = bar.scenario === "ansible" ? bootstrap(group.hosts) : undefined;
      if (extra) {
        parts.push(
          rect(
            x,
            s.medianWallSeconds,
            s.medianWallSeconds + extra.medianWallSeconds,
            TOOLS["ansible-bootstrap"].color,
            `${group.hosts} hosts, ansible-bootstrap: ${seconds(extra.medianWallSeconds)} s wall`,
          ),
        );
      }
      parts.push(
        `<line x1="${x.toFixed(1)}" x2="${(x + barWidth).toFixed(1)}" y1="${y(s.cpuBoundSeconds).toFixed(1)}" y2="${y(s.cpuBoundSeconds).toFixed(1)}" stroke="#222" stroke-width="2"/>`,
        `<text x="${(x + barWidth / 2).toFixed(1)}" y="${(y(barTop(group.hosts, bar)) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${seconds(s.medianWallSeconds)}</text>`,
      );
      x += barWidth + 4;
    }
    parts.push(
      `<text x="${((groupStart + x - 4) / 2).toFixed(1)}" y="${y(0) + 16}" text-anchor="middle">${escapeXml(group.phase)}</text>`,
      `<text x="${((groupStart + x - 4) / 2).toFixed(1)}" y="${y(0) + 30}" text-anchor="middle" fill="#555">${group.hosts} host${group.hosts === 1 ? "" : "s"}</text>`,
    );
    x += 30;
  }
  const shown = new Set(groups.flatMap((g) => g.bars.map((bar) => bar.tool)));
  if (groups.some((g) => bootstrap(g.hosts))) shown.add("ansible-bootstrap");
  const legend = Object.keys(TOOLS).filter((tool) => shown.has(tool));
  const legendY = height - 62;
  legend.forEach((tool, index) => {
    const lx = margin.left + (index % 3) * 230;
    const ly = legendY + Math.floor(index / 3) * 18;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${TOOLS[tool].color}"/>`,
      `<text x="${lx + 16}" y="${ly + 10}">${escapeXml(TOOLS[tool].legend)}</text>`,
    );
  });
  const tickY = legendY + Math.ceil(legend.length / 3) * 18 + 8;
  parts.push(
    `<line x1="${margin.left}" x2="${margin.left + 20}" y1="${tickY}" y2="${tickY}" stroke="#222" stroke-width="2"/>`,
    `<text x="${margin.left + 26}" y="${tickY + 4}">CPU-bound limit (CPU seconds / ${results.machine.cores} cores)</text>`,
    "</svg>",
    "",
  );
  return parts.join("\n");
}

/**
 * The host counts where dockfleet was compared with another tool; every one measured when none
 * was (a dockfleet-only run). The scaling curve shows the others.
 */
function comparedHostCounts(summaries: Summary[]): number[] {
  const all = hostCountsOf(summaries);
  const compared = all.filter((hosts) =>
    summaries.some(
      (s) => s.hosts === hosts && s.scenario !== "dockfleet" && FULL_SCENARIOS.includes(s.scenario),
    ),
  );
  return compared.length > 0 ? compared : all;
}

/** The lines of the scaling curve: dockfleet's operations on one environment, by host count. */
export const SCALING_SCENARIOS: readonly { scenario: ScenarioId; color: string; name: string }[] = [
  { scenario: "dockfleet", color: "#2b7bb9", name: "create" },
  { scenario: "dockfleet-noop", color: "#5cb85c", name: "no-change up" },
  { scenario: "dockfleet-mirror-change", color: "#f0ad4e", name: "mirror change" },
  { scenario: "dockfleet-destroy", color: "#d9534f", name: "destroy" },
];

export interface ScalingLine {
  scenario: ScenarioId;
  points: Summary[];
  /** Least-squares slope of median wall seconds per added host, and of CPU seconds. */
  wallPerHost: number;
  cpuPerHost: number;
}

function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((sum, p) => sum + p.x, 0) / n;
  const my = points.reduce((sum, p) => sum + p.y, 0) / n;
  const sxx = points.reduce((sum, p) => sum + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

/** Pure: dockfleet's scaling lines, when it ran at two host counts or more. */
export function scalingLines(results: BenchResults): ScalingLine[] {
  const summaries = summarize(results);
  return SCALING_SCENARIOS.flatMap(({ scenario }) => {
    const points = summaries
      .filter((s) => s.scenario === scenario)
      .sort((a, b) => a.hosts - b.hosts);
    if (points.length < 2) return [];
    return [
      {
        scenario,
        points,
        wallPerHost: slope(points.map((p) => ({ x: p.hosts, y: p.medianWallSeconds }))),
        cpuPerHost: slope(points.map((p) => ({ x: p.hosts, y: p.medianCpuSeconds }))),
      },
    ];
  });
}

/** One line per operation: its medians at each host count and its per-host slopes. */
export function renderScaling(results: BenchResults): string[] {
  return scalingLines(results).map((line) => {
    const name = SCALING_SCENARIOS.find((s) => s.scenario === line.scenario)?.name ?? "";
    const at = line.points
      .map(
        (p) =>
          `${p.hosts}: ${seconds(p.medianWallSeconds)} s (${seconds(p.medianCpuSeconds)} CPU-s)`,
      )
      .join(", ");
    return (
      `- ${name}: ${at}; per added host ${line.wallPerHost.toFixed(2)} s wall, ` +
      `${line.cpuPerHost.toFixed(2)} CPU-s (least squares over the medians).`
    );
  });
}

/**
 * Two panels side by side: median wall seconds and median CPU seconds against hosts, one line
 * per operation (create, no-change up, mirror change, destroy).
 */
export function renderScalingSvg(results: BenchResults): string {
  const lines = scalingLines(results);
  const panel = { width: 380, height: 300 };
  const margin = { top: 50, right: 20, bottom: 80, left: 60 };
  const width = margin.left + 2 * panel.width + margin.right;
  const height = margin.top + panel.height + margin.bottom;
  const maxHosts = Math.max(1, ...lines.flatMap((l) => l.points.map((p) => p.hosts)));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">dockfleet against the number of hosts: medians, ${escapeXml(results.startedAt.slice(0, 10))}</text>`,
  ];
  const panels: { title: string; value: (s: Summary) => number }[] = [
    { title: "wall time (s)", value: (s) => s.medianWallSeconds },
    { title: "CPU time (CPU-s)", value: (s) => s.medianCpuSeconds },
  ];
  panels.forEach(({ title, value }, index) => {
    const left = margin.left + index * panel.width;
    const plotWidth = panel.width - 40;
    const maxValue = Math.max(1, ...lines.flatMap((l) => l.points.map(value)));
    const { step, top } = axisScale(maxValue);
    const x = (hosts: number) => left + (hosts / maxHosts) * plotWidth;
    const y = (v: number) => margin.top + panel.height - (v / top) * panel.height;
    parts.push(
      `<text x="${left + plotWidth / 2}" y="${margin.top - 10}" text-anchor="middle">${escapeXml(title)}</text>`,
    );
    for (let v = 0; v <= top; v += step) {
      parts.push(
        `<line x1="${left}" x2="${left + plotWidth}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`,
        `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`,
      );
    }
    const hostTicks = [...new Set(lines.flatMap((l) => l.points.map((p) => p.hosts)))];
    for (const hosts of hostTicks) {
      parts.push(
        `<text x="${x(hosts).toFixed(1)}" y="${margin.top + panel.height + 16}" text-anchor="middle">${hosts}</text>`,
      );
    }
    parts.push(
      `<text x="${left + plotWidth / 2}" y="${margin.top + panel.height + 34}" text-anchor="middle" fill="#555">hosts</text>`,
    );
    for (const line of lines) {
      const color = SCALING_SCENARIOS.find((s) => s.scenario === line.scenario)?.color ?? "#000";
      const path = line.points
        .map((p) => `${x(p.hosts).toFixed(1)},${y(value(p)).toFixed(1)}`)
        .join(" ");
      parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
      for (const p of line.points) {
        parts.push(
          `<circle cx="${x(p.hosts).toFixed(1)}" cy="${y(value(p)).toFixed(1)}" r="3" fill="${color}"><title>${p.hosts} hosts, ${line.scenario}: ${seconds(value(p))}</title></circle>`,
        );
      }
    }
  });
  SCALING_SCENARIOS.filter((s) => lines.some((l) => l.scenario === s.scenario)).forEach(
    (s, index) => {
      const lx = margin.left + index * 160;
      const ly = height - 22;
      parts.push(
        `<rect x="${lx}" y="${ly}" width="12" height="12" fill="${s.color}"/>`,
        `<text x="${lx + 16}" y="${ly + 10}">${escapeXml(s.name)}</text>`,
      );
    },
  );
  parts.push("</svg>", "");
  return parts.join("\n");
}

/** The scaling section of the results and of docs/benchmark.md, when there is a curve. */
function renderScalingSection(results: BenchResults, chartPath: string): string[] {
  const lines = renderScaling(results);
  if (lines.length === 0) return [];
  return [
    "",
    "Scaling: dockfleet's operations against the number of hosts, medians of the same run:",
    "",
    ...lines,
    "",
    `![dockfleet against the number of hosts](${chartPath})`,
  ];
}

/**
 * Where docs/benchmark.md points for the scaling curve when the latest run has none (it ran at
 * one host count): the newest kept run that has one, a folder under bench/results.
 */
function renderEarlierScaling(results: BenchResults, earlierScalingRun?: string): string[] {
  if (scalingLines(results).length > 0 || earlierScalingRun === undefined) return [];
  const folder = `../bench/results/${earlierScalingRun}`;
  return [
    "",
    "This run has no scaling curve (it ran at one host count). The kept run with the widest one:",
    `[bench/results/${earlierScalingRun}](${folder}/benchmark.md).`,
    "",
    `![dockfleet against the number of hosts, ${earlierScalingRun}](${folder}/scaling.svg)`,
  ];
}

/**
 * docs/benchmark.md: what is measured, how, and the latest figures with date and machine.
 * `earlierScalingRun`: the folder under bench/results of the kept run with the widest scaling curve.
 */
export function renderBenchmarkDoc(results: BenchResults, earlierScalingRun?: string): string {
  return [
    "# Benchmark: dockfleet against Ansible and a docker-machine-style loop",
    "",
    "<!-- Written by `npm run bench` (bench/bench.ts) from bench/results/benchmark.json. -->",
    "",
    "`npm run bench -- --hosts 5 --runs 3` times, on the local driver and in one run, how long it",
    "takes to get N ready Docker hosts (Docker installed and its API answering over TLS with client",
    "certificates) several ways, on the same kind of fresh hosts (system containers from the same",
    "image, made with the same `docker run` arguments). The kinds run interleaved: one round runs",
    "each once, in an order that changes from round to round so that no kind always runs first or",
    "right after the same other kind (a Williams design, bench/order.ts; `--kinds` picks them):",
    "",
    "- **dockfleet** (`dockfleet`): the command bin/up runs, `pulumi up --yes --skip-preview` (and",
    "  `pulumi refresh` the same way; the no-change runs with `--expect-no-changes`); hosts are made",
    "  and provisioned in parallel, Docker comes from Debian's docker.io without recommended packages.",
    "- **dockfleet, Docker preinstalled** (`preinstalled`): the same with `dockfleet:local.image:",
    "  docker`, a host image with Debian's docker.io already in it (bin/lib/host-image.sh's docker",
    "  variant, built offline and content-hashed like the base image). DockerEngine finds the",
    "  package (install-docker.sh installs nothing, enables docker.service) and writes daemon.json,",
    "  TLS and mirrors as on the install path; dockerd's first start is the one with them.",
    "- **Ansible** (`ansible`): Debian's ansible package (ansible-core 2.14 with the community",
    "  collections) runs bench/peers/ansible/engine.yml: docker.io without recommends (apt lists",
    "  refreshed when older than 6 hours), daemon.json with the mirrors and log rotation, the",
    "  certificates it is given, a drop-in for the TLS listener, the service enabled and running,",
    "  and a check from the controller that the API answers over TLS. Written the way an",
    "  experienced user would: forks = number of hosts, SSH pipelining on, ControlPersist (one",
    "  connection per host for the whole play), no fact gathering (no task reads a fact; the",
    "  interpreter is set in the inventory, so no discovery round trip either), handlers so that a",
    "  daemon.json-only change reloads dockerd (SIGHUP) and changed certificates or drop-in restart",
    "  it. The create row is the hosts (made all at once with the certificates, as dockfleet makes",
    "  them) plus the first playbook run. The host image has no python3, so bootstrap.yml installs",
    "  python3 and python3-apt with `raw` first: its own row, since cloud images usually ship",
    "  python3. Then the playbook runs again with no change (every host must report changed=0) and",
    "  with only the mirror list changed. CPU counted for Ansible misses its SSH ControlPersist",
    "  masters, which detach from the process tree.",
    "- **naive** (`naive`): what a `docker-machine create` loop does: per host, create it, wait for",
    "  SSH, `apt-get update`, `apt-get install docker.io` with apt's default recommends,",
    "  certificates, TLS listener, restart, check the API; then the next host.",
    "- **the install path's floor** (`floor`, bench/floor.ts): the same fresh hosts, all at once,",
    "  then in each at once, through `docker exec` (no SSH), `apt-get update` when the image's",
    "  package lists are over 6 hours old (dockfleet and the playbook both update them then), then",
    "  `apt-get install docker.io` without recommends and with no service started, and nothing",
    "  else: no certificates, daemon.json, TLS",
    "  or dockerd start. Every tool on this install path does at least this, so a create's time",
    "  over the floor is the tool's own (its connections, the configuration, Docker's first start).",
    "- **dockfleet, one host after another** (`sequential`, not in the default kinds): the same",
    "  program with `pulumi up --parallel 1`.",
    "",
    "The scaling curve: `npm run bench -- --hosts 1,5,10,20 --peers-at 5 --runs 3` runs every kind",
    "at 5 hosts and dockfleet alone at 1, 10 and 20 (the peers would take hours at 20), in the same",
    "rounds, and plots dockfleet's create, no-change `up`, mirror change and `destroy` against the",
    "number of hosts, wall time and CPU time, with each one's slope per added host.",
    "",
    "It also times dockfleet's day 2 on the same environment: a second `up` with no change, a",
    "`refresh` (every step's facts read from its host, one SSH command per host), and an `up` that",
    "only changes the registry mirror list (daemon.json rewritten and dockerd reloaded with SIGHUP on",
    "every host, nothing reinstalled or restarted), each also as a share of the create, and against",
    "Ansible's no-change and mirror-only runs.",
    "Each figure is the median of the runs. CPU seconds count the benchmark's process tree and the host",
    "containers' cgroups; divided by the cores they give the CPU-bound limit, the shortest wall time",
    "any schedule could reach on this machine.",
    "",
    "What keeps dockfleet's install lean: Debian's docker.io without recommended packages (10",
    "packages; the recommends add git, apparmor, xz-utils, needrestart, nftables, criu and what they",
    "pull in), apt lists not refreshed when less than 6 hours old, and every host at once. Package",
    "downloads are not shared between hosts: here the Debian mirror delivered docker.io and its",
    "dependencies (65.6 MB) at over 200 MB/s, so a local apt cache would save well under a second",
    "per host; the time goes to dpkg and Docker's first start, which are CPU-bound.",
    "[bench/results/2026-12-04-create-profile.md](../bench/results/2026-12-04-create-profile.md)",
    "breaks one 5-host create down by process, by host and by step.",
    "",
    `## Latest figures (${results.startedAt.slice(0, 10)})`,
    "",
    `Machine: ${renderMachine(results)}.`,
    ...renderFigures(results, "../bench/results/scaling.svg"),
    ...renderEarlierScaling(results, earlierScalingRun),
    "",
    "Chart: [bench/results/benchmark.svg](../bench/results/benchmark.svg); raw samples:",
    "[bench/results/benchmark.json](../bench/results/benchmark.json).",
    "",
  ].join("\n");
}
