/**
 * Host facts: the probes a refresh runs, batched per host, and the drift they find. The batched
 * script is run by a real bash against real files; providers are driven against a fake host.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  describeDrift,
  parseProbeOutput,
  probeFiles,
  renderProbes,
  withHostFacts,
} from "../../provision/dynamic/host-facts";
import type { SshConnectionArgs } from "../../provision/ssh/types";
import { FakeCommander, fakeHostsPerTest } from "../helpers/fake-ssh";

describe("renderProbes and parseProbeOutput", () => {
  it("run every probe in one script and give each its own facts, even after a failing one", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-facts-"));
    try {
      const file = path.join(dir, "daemon.json");
      fs.writeFileSync(file, "{}\n", { mode: 0o640 });
      const script = renderProbes([
        probeFiles({ "daemon.json": file, absent: path.join(dir, "absent") }),
        "echo before=1; false; exit 3",
        `echo "value=with = sign"`,
      ]);
      const stdout = execFileSync("bash", ["-s"], { input: script, encoding: "utf8" });
      const [files, failing, third] = parseProbeOutput(stdout, 3);
      const sha = execFileSync("sha256sum", [file], { encoding: "utf8" }).slice(0, 16);
      assert.deepEqual(files, { "daemon.json": `${sha} 640`, absent: "missing missing" });
      assert.deepEqual(failing, { before: "1" });
      assert.deepEqual(third, { value: "with = sign" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("describeDrift", () => {
  it("names each fact that differs, with both values, and nothing when none does", () => {
    assert.deepEqual(describeDrift({ a: "1", b: "2" }, { a: "1", b: "2" }), []);
    assert.deepEqual(describeDrift({ a: "1", b: "2" }, { a: "1", b: "3", c: "4" }), [
      "b: 2 → 3",
      "c: (none) → 4",
    ]);
    assert.deepEqual(describeDrift({ listening: "*:2376" }, { listening: "" }), [
      "listening: *:2376 → (none)",
    ]);
    assert.deepEqual(describeDrift({ a: "1" }, { host: "unreachable" }), [
      "the host cannot be reached (gone, or another machine answers at its address)",
    ]);
  });
});

interface StepInputs {
  connection: SshConnectionArgs;
  value: string;
}

const connection = { host: "10.0.0.9", port: 22, user: "root", privateKey: "fake key" };
const install = fakeHostsPerTest();

/** A step whose provider counts its runs, wrapped to record the facts `answer` gives. */
function probedStep() {
  const runs: string[] = [];
  const provider = withHostFacts<StepInputs, StepInputs>(
    {
      async create(inputs) {
        runs.push(`create ${inputs.value}`);
        return { id: "step", outs: inputs };
      },
      async diff(_id, olds, news) {
        return { changes: olds.value !== news.value };
      },
      async update(_id, _olds, news) {
        runs.push(`update ${news.value}`);
        return { outs: news };
      },
    },
    (outs) => `echo "value-probe=${outs.value}"`,
  );
  return { provider, runs };
}

describe("withHostFacts", () => {
  it("records facts on create; refresh finds drift, diff makes it an update, update clears it", async () => {
    const host = new FakeCommander("10.0.0.9:22");
    let config = "sha-1";
    host.factsOutput = () => `config=${config}`;
    install(host);
    const { provider, runs } = probedStep();
    const inputs = { connection, value: "a" };

    const created = await provider.create(inputs);
    assert.deepEqual(created.outs?.facts, { config: "sha-1" });
    assert.deepEqual(created.outs?.drift, []);

    const clean = await provider.read!("step", created.outs);
    assert.deepEqual(clean.props?.drift, [], "nothing changed: refresh shows no diff");
    assert.equal((await provider.diff!("step", clean.props!, inputs)).changes, false);

    config = "sha-2"; // someone edits the file by hand
    const drifted = await provider.read!("step", created.outs);
    assert.deepEqual(drifted.props?.drift, ["config: sha-1 → sha-2"]);
    assert.deepEqual(drifted.props?.facts, { config: "sha-1" }, "what the step left is kept");
    const diff = await provider.diff!("step", drifted.props!, inputs);
    assert.equal(diff.changes, true);
    assert.equal(diff.replaces, undefined, "drift is repaired in place");

    config = "sha-1"; // the step's update puts the file back
    const repaired = await provider.update!("step", drifted.props!, inputs);
    assert.deepEqual(runs, ["create a", "update a"]);
    assert.deepEqual(repaired.outs?.drift, []);
    assert.deepEqual((await provider.read!("step", repaired.outs)).props?.drift, []);
  });

  it("reads the steps of one host with one command, each with its own probe", async () => {
    const host = new FakeCommander("10.0.0.9:22");
    host.factsOutput = (probe) => `seen=${/value-probe=(\w+)/.exec(probe)?.[1]}`;
    install(host);
    const { provider } = probedStep();
    const created = await Promise.all(
      ["a", "b", "c"].map((value) => provider.create({ connection, value })),
    );
    host.probes.length = 0;
    const read = await Promise.all(created.map((result) => provider.read!("step", result.outs)));
    assert.equal(host.probes.length, 1, "one exec for the three steps of the host");
    assert.deepEqual(
      read.map((result) => result.props?.facts),
      [{ seen: "a" }, { seen: "b" }, { seen: "c" }],
    );
  });

  it("a host that cannot be reached reads as drifted, not as an error", async () => {
    const host = new FakeCommander("10.0.0.9:22");
    host.factsOutput = () => "config=sha-1";
    install(host);
    const { provider } = probedStep();
    const created = await provider.create({ connection, value: "a" });
    host.unreachable = true;
    const read = await provider.read!("step", created.outs);
    assert.equal(read.props?.drift?.length, 1);
    assert.match(read.props!.drift![0]!, /cannot be reached/);
  });

  it("state from before facts were recorded reads as it is", async () => {
    const host = new FakeCommander("10.0.0.9:22");
    install(host);
    const { provider } = probedStep();
    const old = { connection, value: "a" };
    assert.deepEqual(await provider.read!("step", old), { id: "step", props: old });
    assert.deepEqual(host.probes, []);
  });
});
