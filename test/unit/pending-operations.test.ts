/**
 * What bin/up does about the operations a killed `pulumi up` left in the state
 * (components/stack/pending-operations.ts): dockfleet's own steps are cleared and run again;
 * anything Pulumi cannot tell exists stops the up with the exact commands.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  NOT_RERUNNABLE_TYPES,
  pendingOperations,
  planPendingRecovery,
} from "../../components/stack/pending-operations";

const urn = (type: string, name: string) => `urn:pulumi:dev::dockfleet::${type}::${name}`;
const exported = (...operations: [string, string][]) => ({
  version: 3,
  deployment: {
    resources: [],
    pending_operations: operations.map(([type, resourceType]) => ({
      type,
      resource: { urn: urn(resourceType, "x"), type: resourceType, custom: true },
    })),
  },
});

describe("pending operations of a killed up", () => {
  it("none: nothing to do", () => {
    assert.deepEqual(planPendingRecovery(pendingOperations({ deployment: {} }), "dev"), {
      action: "none",
    });
  });

  it("a dockfleet remote step under way: cleared, and this up runs it again", () => {
    const plan = planPendingRecovery(
      pendingOperations(
        exported(
          ["creating", "pulumi-nodejs:dynamic/dockfleet:DockerInstall"],
          ["updating", "pulumi-nodejs:dynamic/dockfleet:DockerConfig"],
          ["creating", "pulumi-nodejs:dynamic/dockfleet:LocalHost"],
        ),
      ),
      "dev",
    );
    assert.equal(plan.action, "clear");
    assert.match(
      plan.action === "clear" ? plan.message : "",
      /creating urn:pulumi:dev::dockfleet::pulumi-nodejs:dynamic\/dockfleet:DockerInstall::x\n/,
    );
  });

  it("a cloud instance or a VM under way: stops with the exact commands", () => {
    const plan = planPendingRecovery(
      pendingOperations(
        exported(
          ["creating", "pulumi-nodejs:dynamic/dockfleet:DockerInstall"],
          ["creating", "aws:ec2/instance:Instance"],
        ),
      ),
      "dev",
    );
    assert.equal(plan.action, "ask");
    const message = plan.action === "ask" ? plan.message : "";
    assert.ok(
      message.includes(
        "pulumi refresh --stack dev --import-pending-creates " +
          "'urn:pulumi:dev::dockfleet::aws:ec2/instance:Instance::x' <its id>",
      ),
      message,
    );
    assert.ok(message.includes("pulumi refresh --stack dev --clear-pending-creates --yes"));
    assert.ok(!/Pulumi cannot tell[^]*DockerInstall/.test(message), message);
    const vm = planPendingRecovery(
      pendingOperations(exported(["creating", "pulumi-nodejs:dynamic/dockfleet:VirtualBoxVm"])),
      "dev",
    );
    assert.equal(vm.action, "ask");
  });

  it("the types it will not run again are dockfleet types that exist", () => {
    const sources = ["components/machines/virtualbox/vm.ts"].map((file) =>
      fs.readFileSync(path.join(__dirname, "../..", file), "utf8"),
    );
    for (const type of NOT_RERUNNABLE_TYPES) {
      assert.ok(
        sources.some((source) => source.includes(`type: "${type}"`)),
        type,
      );
    }
  });
});
