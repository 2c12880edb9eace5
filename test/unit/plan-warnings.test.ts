import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { deployEnvironment, installMocks, settle } from "./fixtures/pulumi-mocks";

installMocks("warntest");

/**
 * Plans that work but are unwise are warned about, not refused: the components log their plan's
 * warnings with pulumi.log.warn while the program runs, so `pulumi preview` shows them.
 */
describe("warnings in the preview (Pulumi mocks)", () => {
  const warnings: string[] = [];
  const warn = pulumi.log.warn;
  before(async () => {
    pulumi.log.warn = (message: string) => {
      warnings.push(message);
      return Promise.resolve();
    };
    const { SwarmCluster } = await import("../../components/swarm/swarm-cluster");
    const environment = await deployEnvironment("warn", {
      driver: "aws",
      aws: { region: "eu-west-1", adminCidrs: ["203.0.113.7/32"] },
      hosts: 4,
      etcd: { enabled: true, members: 4 },
    });
    new SwarmCluster("warn-swarm", { engines: environment.engines, config: {} });
    await settle();
  });
  after(() => {
    pulumi.log.warn = warn;
  });

  it("warns about an even etcd member count", () => {
    assert.ok(
      warnings.includes(
        "dockfleet:etcd.members: 4 members tolerate no more failures than 3 (quorum 3) and add " +
          "one more that can fail; use an odd number",
      ),
      warnings.join("\n"),
    );
  });

  it("warns about a single swarm manager of several nodes", () => {
    assert.ok(
      warnings.includes(
        "dockfleet:swarm.managers = 1 with 4 nodes: while host-1 is down nothing can change the " +
          "swarm (tasks keep running); 3 managers survive the loss of one",
      ),
      warnings.join("\n"),
    );
  });
});
