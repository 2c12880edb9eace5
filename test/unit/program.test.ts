import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { type CreatedResource, installHostMocks } from "./fixtures/host-mocks";

/**
 * The program (components/stack/program.ts) under Pulumi mocks: each component gets its section
 * of the resolved stack config, so what the stack file says reaches the resources (a spread of
 * settings the component does not take would compile and be dropped without a word).
 */

let created: CreatedResource[] = [];

before(() => {
  created = installHostMocks();
});

/** The resources registered so far that `match`, once there are `count` of them. */
async function registered(
  match: (resource: (typeof created)[number]) => boolean,
  count: number,
): Promise<typeof created> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const found = created.filter(match);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`fewer than ${count} matching resources were registered`);
}

describe("the program", () => {
  it("hands the swarm its `dockfleet:swarm` settings", async () => {
    pulumi.runtime.setAllConfig({
      "dockfleet:hosts": "3",
      "dockfleet:swarm": JSON.stringify({
        enabled: true,
        hosts: ["host-2", "host-1"],
        port: 2400,
        workers: 1,
        nodes: { "host-1": { availability: "drain" } },
      }),
    });
    process.env.DOCKFLEET_HOST_IMAGE = "dockfleet/host:test";
    const { dockfleetProgram } = await import("../../components/stack/program");
    dockfleetProgram();
    // Registration is asynchronous (inputs resolve first): wait for the swarm's resources.
    const swarm = await registered((resource) => resource.name.startsWith("swarm-"), 3);
    const init = swarm.find((resource) => resource.name === "swarm-init");
    assert.equal(init?.inputs.host, "host-2", "the first of `hosts` inits the swarm");
    assert.equal(init?.inputs.port, 2400);
    const nodes = swarm
      .filter((resource) => resource.inputs.role !== undefined)
      .map((resource) => [
        resource.inputs.host,
        resource.inputs.role,
        resource.inputs.availability,
      ]);
    assert.deepEqual(nodes, [
      ["host-2", "manager", "active"],
      ["host-1", "worker", "drain"],
    ]);
  });
});
