import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  replicaCounts,
  servicesDownSince,
  servicesNotConverged,
  servicesRunning,
} from "../../components/engine/swarm-services";

describe("servicesNotConverged", () => {
  it("lists services below their replica count, including docker's max-per-node suffix", () => {
    const lines = "counter_web 3/3\ncounter_redis 0/1\nwp_wordpress 2/3 (max 1 per node)\n";
    assert.deepEqual(servicesNotConverged(lines), [
      "counter_redis 0/1",
      "wp_wordpress 2/3 (max 1 per node)",
    ]);
    assert.deepEqual(servicesNotConverged("a 1/1\nb 3/3\n"), []);
  });
});

describe("servicesRunning", () => {
  it("names the services running every replica they want, not those scaled to zero", () => {
    const lines =
      "counter_web 3/3\ncounter_redis 0/1\nwp_wordpress 1/1 (max 1 per node)\nidle 0/0\n";
    assert.deepEqual(servicesRunning(lines), ["counter_web", "wp_wordpress"]);
    assert.deepEqual(servicesRunning("\nnot a line\n"), []);
  });
});

describe("servicesDownSince", () => {
  it("the services that ran all their replicas before and do not now", () => {
    const now = "counter_web 2/3\ncounter_redis 1/1\nbroken 0/2\nnew_one 0/1\n";
    assert.deepEqual(servicesDownSince(["counter_web", "counter_redis", "gone"], now), [
      "counter_web 2/3",
    ]);
    assert.deepEqual(servicesDownSince([], now), []);
  });
});

describe("replicaCounts", () => {
  it("adds up the replicas running and wanted over the stack's services", () => {
    const lines = "counter_web 3/3\ncounter_redis 0/1\nwp_wordpress 2/3 (max 1 per node)\n";
    assert.deepEqual(replicaCounts(lines), { done: 5, total: 7 });
    assert.deepEqual(replicaCounts("a 2/1\n\nnot a line\n"), { done: 1, total: 1 });
    assert.deepEqual(replicaCounts(""), { done: 0, total: 0 });
  });
});
