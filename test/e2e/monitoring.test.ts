import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { localResourceNames } from "../../components/machines/local/run-args";
import { runDocker } from "../../components/machines/local/docker-cli";
import { Monitoring, type MonitoringConfigInput } from "../../components/monitoring";
import { PrivateRegistry } from "../../components/registry";
import { readScript } from "../../provision/dynamic/remote-step";
import { shellQuote } from "../../provision/ssh/shell";
import { SwarmCluster } from "../../components/swarm";
import {
  assertNothingLabelled,
  requireHostImage,
  retryUntilPasses,
  runCommand,
} from "../helpers/docker";
import { localTestEnvironment } from "../helpers/environment";
import {
  assertNothingChanged,
  readBackendFiles,
  removeStackCompletely,
  stepTimer,
} from "../helpers/stack";

/**
 * Monitoring for real, through the Automation API: two local hosts with a one-member etcd, a
 * two-node swarm and the registry on host-1; Prometheus (the image bin/lib/setup.sh builds from
 * Debian's package, pushed to the registry) on host-1, a node exporter on both. Every target is up
 * in Prometheus's API, the API asks for basic auth, everything listens on the private addresses
 * only, the swarm's node states come from Docker's metrics, HostDown fires when host-2's node
 * exporter stops and clears when it is back, the UI renders in headless Chromium (screenshot), a
 * second `up` changes nothing, and `destroy` leaves nothing.
 */

const STACK = `monitoring${process.pid}`;
const SUBNET = "172.30.66.0/24";
const HOST_1 = "172.30.66.10";
const HOST_2 = "172.30.66.11";
const PROMETHEUS = `${HOST_1}:9090`;

// Short intervals, so that an alert fires and clears within seconds.
const monitoringConfig: MonitoringConfigInput = {
  enabled: true,
  scrapeInterval: "2s",
  evaluationInterval: "2s",
  hostDownFor: "4s",
};

async function program() {
  const environment = localTestEnvironment(STACK, {
    hosts: 2,
    local: { subnet: SUBNET },
    etcd: { enabled: true, members: 1 },
    swarm: { enabled: true, managers: 1 },
    registry: { enabled: true },
    monitoring: monitoringConfig,
  });
  const swarm = new SwarmCluster("swarm", {
    engines: environment.engines,
    config: { enabled: true, managers: 1 },
  });
  const registry = new PrivateRegistry("registry", {
    engines: environment.engines,
    metricsPort: 5001,
  });
  const monitoring = new Monitoring(
    "monitoring",
    { engines: environment.engines, registry, etcd: environment.etcd, config: monitoringConfig },
    { dependsOn: [swarm] },
  );
  return {
    url: monitoring.url,
    host: monitoring.hostName,
    username: monitoring.username,
    password: monitoring.password,
    nodeExporterPassword: monitoring.nodeExporterPassword,
  };
}

const container = (host: string) => localResourceNames(STACK, host).container;

/** GET on Prometheus (a path) or any URL; resolves with the status code and body. */
function get(pathOrUrl: string, auth?: string): Promise<{ status: number; body: string }> {
  const url = pathOrUrl.startsWith("http://") ? pathOrUrl : `http://${PROMETHEUS}${pathOrUrl}`;
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 5_000, auth }, (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on("error", reject)
      .on("timeout", function (this: { destroy(error: Error): void }) {
        this.destroy(new Error(`timeout: ${url}`));
      });
  });
}

/** The addresses a host listens on at a port, "a:p,b:p". */
async function listeners(host: string, port: number): Promise<string> {
  const listening = await runDocker([
    "exec",
    container(host),
    "sh",
    "-c",
    `ss -Hltn 'sport = :${port}' | awk '{ print $4 }' | sort -u | paste -sd, -`,
  ]);
  return listening.trim();
}

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

interface Alert {
  labels: Record<string, string>;
  state: string;
}

describe("Monitoring on local hosts", { timeout: 20 * 60_000 }, () => {
  let stack: Stack;
  let output = "";
  let auth = "";
  let nodeExporterPassword = "";
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-monitoring-test-"));
  const { timings, timed } = stepTimer();
  const up = (label: string) =>
    timed(label, () => stack.up({ onOutput: (line) => (output += line) }));
  const api = async <T>(query: string): Promise<T> => {
    const response = await get(`/api/v1/${query}`, auth);
    assert.equal(response.status, 200, response.body);
    return (JSON.parse(response.body) as { data: T }).data;
  };
  const hostDownAlerts = async () =>
    (await api<{ alerts: Alert[] }>("alerts")).alerts.filter(
      (alert) => alert.labels.alertname === "HostDown",
    );

  before(async () => {
    requireHostImage();
    stack = await LocalWorkspace.createOrSelectStack({
      stackName: STACK,
      projectName: "dockfleet-monitoring-test",
      program,
    });
  });

  after(async () => {
    // Whatever a failed run left behind is found by label.
    await removeStackCompletely(stack, STACK);
    // The screenshot stays for a look; Chromium's profile goes.
    fs.rmSync(path.join(work, "chromium"), { recursive: true, force: true });
    process.stdout.write(`monitoring test timings (s): ${JSON.stringify(timings)}\n`);
    process.stdout.write(`monitoring test files (screenshot): ${work}\n`);
    const steps = output
      .split("\n")
      .filter((line) => /: done in [\d.]+ s|: (layers|packages) \d/.test(line));
    process.stdout.write(`remote steps:\n${steps.join("\n")}\n`);
  });

  it("runs Prometheus on host-1 behind basic auth, its password a secret", async () => {
    const result = await up("first up");
    assert.equal(result.summary.result, "succeeded");
    assert.equal(result.outputs.url.value, `http://${PROMETHEUS}`);
    assert.equal(result.outputs.host.value, "host-1");
    // The image's push counted its layers as skopeo copied them.
    assert.match(
      output,
      /push dockfleet\/apps-prometheus\S* to \S+: layers \d+\/\d+ \(copying [0-9a-f]{12}\)/,
    );
    assert.equal(result.outputs.password.secret, true);
    const password = result.outputs.password.value as string;
    auth = `${result.outputs.username.value as string}:${password}`;
    assert.equal(result.outputs.nodeExporterPassword.secret, true);
    nodeExporterPassword = result.outputs.nodeExporterPassword.value as string;
    for (const secret of [password, nodeExporterPassword]) {
      assert.ok(!readBackendFiles().includes(secret), "a password is in plain state");
      assert.ok(!output.includes(secret), "a password is in Pulumi's output");
    }
    assert.equal((await get("/api/v1/targets")).status, 401, "the API answers without auth");
    assert.equal((await get("/api/v1/targets", "admin:wrong-password")).status, 401);
    assert.equal((await get("/-/ready", auth)).status, 200);
  });

  it("asks for basic auth at the node exporters too", async () => {
    const metrics = (auth?: string) => get(`http://${HOST_2}:9100/metrics`, auth);
    assert.equal((await metrics()).status, 401);
    assert.equal((await metrics("prometheus:wrong-password")).status, 401);
    assert.equal((await metrics(`prometheus:${nodeExporterPassword}`)).status, 200);
  });

  it("listens on the private addresses only", async () => {
    assert.equal(await listeners("host-1", 9090), PROMETHEUS);
    for (const [host, address] of [
      ["host-1", HOST_1],
      ["host-2", HOST_2],
    ]) {
      assert.equal(await listeners(host, 9100), `${address}:9100`, `${host}'s node exporter`);
      assert.equal(await listeners(host, 9323), `${address}:9323`, `${host}'s Docker metrics`);
    }
    assert.equal(await listeners("host-1", 5001), `${HOST_1}:5001`, "the registry's metrics");
  });

  it("has every target up: node exporters, engines, etcd, the registry", async () => {
    await timed("all targets up", () =>
      retryUntilPasses(
        "every target up",
        async () => {
          // Right after a start the list may still be empty: every target must be there, up.
          const { activeTargets } = await api<{ activeTargets: Target[] }>("targets");
          assert.deepEqual(
            activeTargets
              .map((t) => `${t.labels.job}/${t.labels.host}: ${t.health} ${t.lastError}`.trim())
              .sort(),
            [
              "docker/host-1: up",
              "docker/host-2: up",
              "etcd/host-1: up",
              "node/host-1: up",
              "node/host-2: up",
              "registry/host-1: up",
            ],
          );
        },
        60_000,
        2_000,
      ),
    );
  });

  it("sees the swarm's node states in Docker's metrics (SwarmNodeNotReady's source)", async () => {
    // Every engine reports the gauge; a worker's is 0 for every state, the manager counts nodes.
    const ready = await retryUntilPasses(
      "swarm_manager_nodes scraped",
      async () => {
        const data = await api<{ result: { metric: Record<string, string>; value: string[] }[] }>(
          `query?query=${encodeURIComponent('swarm_manager_nodes{state="ready"} > 0')}`,
        );
        assert.equal(data.result.length, 1, JSON.stringify(data.result));
        return data.result[0];
      },
      30_000,
      2_000,
    );
    assert.equal(ready.metric.host, "host-1", "the manager reports the nodes");
    assert.equal(ready.value[1], "2", "two ready nodes");
    const rules = await api<{ groups: { rules: { name: string }[] }[] }>("rules");
    assert.deepEqual(rules.groups.flatMap((group) => group.rules.map((rule) => rule.name)).sort(), [
      "DiskAlmostFull",
      "EngineMetricsDown",
      "EtcdMemberDown",
      "HostDown",
      "SwarmNodeNotReady",
    ]);
  });

  it("fires HostDown when host-2's node exporter stops, and clears it when it is back", async () => {
    assert.deepEqual(await hostDownAlerts(), [], "HostDown before anything stopped");
    await runDocker([
      "exec",
      container("host-2"),
      "systemctl",
      "stop",
      "prometheus-node-exporter.service",
    ]);
    try {
      await timed("HostDown fires", () =>
        retryUntilPasses(
          "HostDown firing for host-2",
          async () => {
            const alerts = await hostDownAlerts();
            assert.deepEqual(
              alerts.map((alert) => `${alert.labels.host} ${alert.state}`),
              ["host-2 firing"],
            );
          },
          60_000,
          1_000,
        ),
      );
    } finally {
      await runDocker([
        "exec",
        container("host-2"),
        "systemctl",
        "start",
        "prometheus-node-exporter.service",
      ]);
    }
    await timed("HostDown clears", () =>
      retryUntilPasses(
        "HostDown cleared",
        async () => assert.deepEqual(await hostDownAlerts(), []),
        60_000,
        1_000,
      ),
    );
  });

  it("changes nothing when the node exporter's script runs again", async () => {
    // The password on stdin, as the SSH layer sends it, not on docker's command line.
    const again = await runCommand(
      "docker",
      ["exec", "-i", "-e", `LISTEN=${HOST_2}:9100`, container("host-2"), "bash", "-s"],
      {
        input:
          `export WEB_PASSWORD=${shellQuote(nodeExporterPassword)}\n` +
          readScript(
            path.join(__dirname, "..", "..", "components", "monitoring"),
            "ensure-node-exporter.sh",
          ),
      },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^DOCKFLEET_RESULT changed=0 version=\S+$/m);
  });

  it("renders Prometheus's UI in headless Chromium", async (t) => {
    const installed = await runCommand("bash", [
      "-c",
      "source bin/lib/setup.sh && ensure_chromium",
    ]);
    if (installed.code !== 0) {
      t.skip(`chromium could not be installed, no screenshot taken: ${installed.stderr.trim()}`);
      return;
    }
    const screenshot = path.join(work, "prometheus.png");
    // The credentials in the URL: the test's own password, on this machine only.
    const url = `http://${auth}@${PROMETHEUS}/graph`;
    const chromium = (args: string[]) =>
      runCommand(
        "chromium",
        [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          `--user-data-dir=${path.join(work, "chromium")}`,
          "--virtual-time-budget=5000",
          ...args,
          url,
        ],
        { timeoutMs: 120_000 },
      );
    const dom = await timed("chromium dump-dom", () => chromium(["--dump-dom"]));
    assert.equal(dom.code, 0, dom.stderr);
    const title = /<title>([^<]*)<\/title>/.exec(dom.stdout)?.[1] ?? "";
    assert.match(title, /^Prometheus\b/, `the page's title is "${title}"`);
    const shot = await timed("chromium screenshot", () =>
      chromium([`--screenshot=${screenshot}`, "--window-size=1280,800", "--hide-scrollbars"]),
    );
    assert.equal(shot.code, 0, shot.stderr);
    const png = fs.readFileSync(screenshot);
    assert.ok(png.length > 1000, `the screenshot has ${png.length} bytes`);
    assert.equal(png.subarray(1, 4).toString(), "PNG");
    process.stdout.write(`screenshot: ${screenshot} (${png.length} bytes), title "${title}"\n`);
  });

  it("changes nothing on a second up", async () => {
    assertNothingChanged(await up("second up"));
  });

  it("removes everything on destroy, Prometheus and the node exporters first", async () => {
    const result = await timed("destroy", () =>
      stack.destroy({ onOutput: (line) => (output += line) }),
    );
    assert.equal(result.summary.result, "succeeded");
    assert.match(output, /host-1: remove prometheus: done/);
    assert.match(output, /host-2: remove node-exporter: done/);
    await assertNothingLabelled(STACK);
  });
});
