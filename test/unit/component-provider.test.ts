import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { DockerHost, SwarmCluster } from "../../provider/index";

/**
 * The schema Pulumi infers from provider/index.ts, as `pulumi package add` and Pulumi YAML read
 * it: the inference takes only some TypeScript types, and a type it refuses fails every consumer
 * at the first `pulumi package add`. The provider run for real: test/e2e/yaml-program.test.ts.
 */

const PROVIDER_DIR = path.resolve(__dirname, "..", "..", "provider");

describe("dockfleet's component package schema", () => {
  it("declares DockerHost and SwarmCluster with plain arguments and their outputs", async () => {
    const provider = new ComponentProvider({
      name: "dockfleet",
      version: "0.0.1",
      dirname: PROVIDER_DIR,
      components: [DockerHost, SwarmCluster],
    });
    const schema = JSON.parse(await provider.getSchema()) as {
      name: string;
      resources: Record<
        string,
        {
          isComponent: boolean;
          inputProperties: Record<
            string,
            { type?: string; items?: { type?: string; $ref?: string } }
          >;
          requiredInputs: string[];
          properties: Record<string, { type?: string }>;
          required: string[];
        }
      >;
      types: Record<string, { properties: Record<string, { type?: string }>; required?: string[] }>;
    };
    assert.equal(schema.name, "dockfleet");
    const host = schema.resources["dockfleet:index:DockerHost"];
    assert.ok(host, `resources: ${Object.keys(schema.resources).join(", ")}`);
    assert.equal(host.isComponent, true);
    assert.deepEqual([...host.requiredInputs].sort(), ["address", "privateKey"]);
    assert.equal(host.inputProperties.address.type, "string");
    assert.equal(host.inputProperties.port.type, "number");
    assert.equal(host.inputProperties.registryMirrors.type, "array");
    assert.equal(host.inputProperties.registryMirrors.items?.type, "string");
    assert.deepEqual([...host.required].sort(), [
      "caCertPem",
      "clientCertPem",
      "clientKeyPem",
      "dockerHost",
    ]);
    // The swarm takes host descriptions, not DockerHost references (docs/yaml.md says why).
    const swarm = schema.resources["dockfleet:index:SwarmCluster"];
    assert.ok(swarm, `resources: ${Object.keys(schema.resources).join(", ")}`);
    assert.equal(swarm.isComponent, true);
    assert.deepEqual([...swarm.requiredInputs].sort(), ["hosts", "privateKey"]);
    assert.equal(swarm.inputProperties.hosts.items?.$ref, "#/types/dockfleet:index:SwarmHostArgs");
    const hostType = schema.types["dockfleet:index:SwarmHostArgs"];
    assert.deepEqual([...(hostType.required ?? [])].sort(), ["address", "name"]);
    assert.equal(hostType.properties.role.type, "string");
    assert.equal(hostType.properties.labels.type, "object");
    for (const output of ["dockerHost", "clientKeyPem", "nodes", "workerJoinToken", "clusterId"]) {
      assert.ok(swarm.required.includes(output), `SwarmCluster outputs ${output}`);
    }
    // The registry is optional, and so are its outputs.
    assert.ok(!swarm.requiredInputs.includes("registry"));
    assert.ok("registryUrl" in swarm.properties);
    assert.ok(!swarm.required.includes("registryUrl"));
  });
});
