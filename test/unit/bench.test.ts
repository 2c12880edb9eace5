import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkRecap,
  parsePlayRecap,
  renderAnsibleInventory,
  renderKnownHosts,
} from "../../bench/ansible";
import { spareAddress } from "../../bench/hosts";
import {
  type BenchResults,
  renderAnsibleVerdicts,
  renderBenchmarkDoc,
  renderChartSvg,
  renderFloorLines,
  renderResultsMarkdown,
  renderScaling,
  renderScalingSvg,
  renderTable,
  scalingLines,
  type Sample,
  type ScenarioId,
} from "../../bench/report";

/** The benchmark's pure parts: the Ansible peer's inventory and recap, the report's rows and chart. */

const HOSTS = [
  { name: "host-1", address: "172.30.94.74", hostKey: "ssh-ed25519 AAAAone" },
  { name: "host-2", address: "172.30.94.75", hostKey: "ssh-ed25519 AAAAtwo" },
];
const FILES = {
  privateKeyFile: "/tmp/round/id_ed25519",
  knownHostsFile: "/tmp/round/known_hosts",
  tlsDir: "/tmp/round/tls",
};

describe("Ansible peer", () => {
  it("renders an INI inventory with the shared connection settings", () => {
    assert.equal(
      renderAnsibleInventory(HOSTS, FILES),
      [
        "[all]",
        "host-1 ansible_host=172.30.94.74",
        "host-2 ansible_host=172.30.94.75",
        "",
        "[all:vars]",
        "ansible_user=root",
        "ansible_ssh_private_key_file=/tmp/round/id_ed25519",
        "ansible_python_interpreter=/usr/bin/python3",
        "ansible_ssh_common_args='-o UserKnownHostsFile=/tmp/round/known_hosts'",
        "tls_dir=/tmp/round/tls",
        "",
      ].join("\n"),
    );
  });

  it("refuses values the INI format would split or quote", () => {
    assert.throws(
      () => renderAnsibleInventory(HOSTS, { ...FILES, tlsDir: "/tmp/my round/tls" }),
      /TLS folder "\/tmp\/my round\/tls" is not a plain word/,
    );
  });

  it("pins each host's key at its address", () => {
    assert.equal(
      renderKnownHosts(HOSTS),
      "172.30.94.74 ssh-ed25519 AAAAone\n172.30.94.75 ssh-ed25519 AAAAtwo\n",
    );
  });

  const output = [
    "TASK [Check that the API answers over TLS] ****",
    "ok: [host-1 -> localhost]",
    "",
    "PLAY RECAP *********************************************************************",
    "host-1                     : ok=9    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   ",
    "host-2                     : ok=9    changed=2    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   ",
    "",
    "Thursday 03 December 2026  17:40:01 +0000 (0:00:00.512)       0:00:12.345 ******",
  ].join("\n");

  it("reads the PLAY RECAP per host", () => {
    assert.deepEqual(parsePlayRecap(output), {
      "host-1": { ok: 9, changed: 0, unreachable: 0, failed: 0 },
      "host-2": { ok: 9, changed: 2, unreachable: 0, failed: 1 },
    });
    assert.throws(() => parsePlayRecap("PLAY [x]\n"), /no PLAY RECAP/);
  });

  it("checks the recap: every host there, no failures, changes as expected", () => {
    const recap = parsePlayRecap(output);
    assert.doesNotThrow(() => checkRecap(recap, ["host-1"], "none"));
    assert.throws(() => checkRecap(recap, ["host-1"], "every"), /host-1: the run changed nothing/);
    assert.throws(() => checkRecap(recap, ["host-2"], "every"), /host-2: 1 failed, 0 unreachable/);
    assert.throws(() => checkRecap(recap, ["host-3"], "none"), /host-3 is missing/);
    const changed = { "host-2": { ok: 9, changed: 2, unreachable: 0, failed: 0 } };
    assert.throws(() => checkRecap(changed, ["host-2"], "none"), /changed 2 task\(s\)/);
  });

  it("a spare address lies in the subnet, past the hosts", () => {
    assert.equal(spareAddress("172.30.81.0/24"), "172.30.81.49");
    assert.equal(spareAddress("172.30.94.64/26"), "172.30.94.113");
  });
});

function results(samples: [ScenarioId, number][]): BenchResults {
  return {
    startedAt: "2026-12-03T18:05:00.000Z",
    machine: { cpuModel: "test CPU", cores: 2, memoryGb: 23, kernel: "6", os: "Debian 12" },
    options: { hosts: [5], runs: 1, scenarios: samples.map(([scenario]) => scenario) },
    samples: samples.map(([scenario, wallSeconds]): Sample => ({
      scenario,
      hosts: 5,
      run: 1,
      wallSeconds,
      cpuSeconds: wallSeconds,
      machineBusySeconds: wallSeconds,
    })),
  };
}

describe("benchmark report with Ansible", () => {
  const run = results([
    ["dockfleet", 60],
    ["dockfleet-preinstalled", 20],
    ["ansible", 120],
    ["ansible-bootstrap", 50],
    ["dockfleet-noop", 10],
    ["ansible-noop", 30],
    ["dockfleet-mirror-change", 9],
    ["ansible-mirror-change", 27],
  ]);

  it("gives each dockfleet row its ratio to the Ansible counterpart", () => {
    const table = renderTable(run);
    const row = (label: string) => table.split("\n").find((line) => line.includes(label)) ?? "";
    assert.match(row("dockfleet `up` (hosts in parallel)"), /\| 0\.50x \|$/);
    assert.match(row("local.image docker"), /\| 0\.17x \|$/);
    assert.match(row("dockfleet second `up`, no change"), /\| 0\.33x \|$/);
    assert.match(row("changing only the mirror list"), /\| 0\.33x \|$/);
    assert.match(row("python3 bootstrap"), /\| 50\.0 \|.* \| {2}\| {2}\|$/);
  });

  it("judges the issue's targets against Ansible", () => {
    const verdicts = renderAnsibleVerdicts(run);
    assert.equal(verdicts.length, 2);
    assert.match(verdicts[0], /0\.50x .* \(target at most 0\.6x\): met\.$/);
    assert.match(verdicts[1], /0\.33x .* \(target at most 0\.25x\): NOT met\.$/);
  });

  it("draws Ansible in every phase and stacks its bootstrap on its create bar", () => {
    const svg = renderChartSvg(run);
    for (const phase of ["create", "no change", "mirror change"]) {
      assert.ok(svg.includes(`>${phase}</text>`), phase);
    }
    assert.match(svg, /<title>5 hosts, ansible: 120\.0 s wall/);
    // The bootstrap's rectangle starts where the create's ends: 120 s up to 170 s.
    const top = (title: string) =>
      Number(new RegExp(`y="([\\d.]+)"[^>]*><title>5 hosts, ${title}:`).exec(svg)?.[1]);
    const bottom = (title: string) => {
      const match = new RegExp(
        `y="([\\d.]+)" width="40" height="([\\d.]+)"[^>]*><title>5 hosts, ${title}:`,
      ).exec(svg);
      return Number(match?.[1]) + Number(match?.[2]);
    };
    assert.ok(Math.abs(bottom("ansible-bootstrap") - top("ansible")) < 0.2);
    assert.ok(svg.includes(">Ansible's python3 bootstrap</text>"));
  });
});

describe("benchmark report with the install path's floor", () => {
  const run = results([
    ["dockfleet", 26],
    ["ansible", 40],
    ["install-floor", 19],
  ]);

  it("says how much of each create is the tool's own and what the floor leaves of the target", () => {
    const [line, ...rest] = renderFloorLines(run);
    assert.equal(rest.length, 0);
    // 0.6 x 40 s = 24 s, of which 19 s (79%) is the floor.
    assert.equal(
      line,
      "- 5 host(s): the floor took 19.0 s; dockfleet's create 26.0 s (7.0 s its own), " +
        "Ansible's 40.0 s (21.0 s its own). 0.6x Ansible is 24.0 s, of which the floor alone takes 79%.",
    );
    assert.match(
      renderResultsMarkdown(run),
      /The install path's floor, in the same run .*:\n\n- 5 host/,
    );
    assert.match(renderChartSvg(run), /<title>5 hosts, install-floor: 19\.0 s wall/);
  });

  it("says nothing of the floor when it was not measured", () => {
    const without = results([
      ["dockfleet", 26],
      ["ansible", 40],
    ]);
    assert.deepEqual(renderFloorLines(without), []);
    assert.doesNotMatch(renderResultsMarkdown(without), /floor/);
  });
});

describe("benchmark scaling curve", () => {
  // dockfleet at 1, 5 and 10 hosts (create 10 s + 6 s per host, no change 2 s + 0.1 s per host),
  // Ansible only at 5.
  const sample = (scenario: ScenarioId, hosts: number, wallSeconds: number): Sample => ({
    scenario,
    hosts,
    run: 1,
    wallSeconds,
    cpuSeconds: 2 * wallSeconds,
    machineBusySeconds: 2 * wallSeconds,
  });
  const run: BenchResults = {
    startedAt: "2026-12-03T21:30:00.000Z",
    machine: { cpuModel: "test CPU", cores: 2, memoryGb: 23, kernel: "6", os: "Debian 12" },
    options: { hosts: [1, 5, 10], runs: 1, scenarios: ["dockfleet", "dockfleet-noop", "ansible"] },
    samples: [
      ...[1, 5, 10].flatMap((hosts) => [
        sample("dockfleet", hosts, 10 + 6 * hosts),
        sample("dockfleet-noop", hosts, 2 + 0.1 * hosts),
      ]),
      sample("ansible", 5, 70),
    ],
  };

  it("fits each operation's per-host slope over the medians", () => {
    const lines = scalingLines(run);
    assert.deepEqual(
      lines.map((line) => line.scenario),
      ["dockfleet", "dockfleet-noop"],
    );
    assert.ok(Math.abs(lines[0].wallPerHost - 6) < 1e-9);
    assert.ok(Math.abs(lines[0].cpuPerHost - 12) < 1e-9);
    assert.ok(Math.abs(lines[1].wallPerHost - 0.1) < 1e-9);
    assert.match(
      renderScaling(run)[1],
      /^- no-change up: 1: 2\.1 s .* per added host 0\.10 s wall/,
    );
  });

  it("draws a line per operation in both panels, and no curve from one host count", () => {
    const svg = renderScalingSvg(run);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4);
    assert.ok(svg.includes("<title>10 hosts, dockfleet: 70.0</title>"));
    assert.ok(svg.includes("<title>10 hosts, dockfleet: 140.0</title>"));
    const single: BenchResults = { ...run, samples: run.samples.filter((s) => s.hosts === 5) };
    assert.deepEqual(scalingLines(single), []);
  });

  it("docs point to the newest kept scaling curve when the latest run has none", () => {
    const single: BenchResults = { ...run, samples: run.samples.filter((s) => s.hosts === 5) };
    const earlier = "2026-12-03-scaling-1-5-10-20-hosts";
    const pointed = renderBenchmarkDoc(single, earlier);
    assert.ok(
      pointed.includes(`![dockfleet against the number of hosts, ${earlier}]`) &&
        pointed.includes(`(../bench/results/${earlier}/scaling.svg)`),
    );
    assert.ok(!pointed.includes("../bench/results/scaling.svg"));
    // A run with its own curve shows that one only.
    const own = renderBenchmarkDoc(run, earlier);
    assert.ok(own.includes("(../bench/results/scaling.svg)") && !own.includes(earlier));
  });

  it("keeps the comparison chart to the host counts where a peer ran", () => {
    const svg = renderChartSvg(run);
    assert.ok(svg.includes("<title>5 hosts, dockfleet:"));
    assert.ok(!svg.includes("<title>10 hosts, dockfleet:"));
  });
});
