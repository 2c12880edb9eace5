import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { migrateStackExport, providerLocator } from "../../components/stack/state-migration";
import { providerModuleText } from "../../provision/dynamic/provider-shim";
import { DOCKER_CONFIG_INPUTS, loadSerializedProvider } from "./fixtures/serialized-provider";

/** The loader as state written before 2026-12-03 holds it: the checkout's absolute path inside. */
function oldProviderText(moduleFile: string, exportName: string): string {
  return [
    "exports.handler = __f0;",
    "function __f2() {",
    "  return (function() {",
    `    with({ moduleFile: "${moduleFile}", exportName: "${exportName}", this: undefined, arguments: undefined }) {`,
    "return ()=>require(moduleFile)[exportName];",
    "    }",
    "  }).apply(undefined, undefined).apply(this, arguments);",
    "}",
  ].join("\n");
}

describe("state migration: providers that named an absolute path", () => {
  it("rewrites them to load by package-relative module, and the result really loads", async () => {
    const old = oldProviderText(
      "/some/old/checkout/provision/providers/docker-config.ts",
      "dockerConfigProvider",
    );
    const current = providerModuleText(
      providerLocator()("registryPasswordProvider"),
      "registryPasswordProvider",
    );
    const exported = {
      deployment: {
        resources: [
          {
            urn: "urn:pulumi:local::dockfleet::dockfleet:DockerConfig::host-1",
            inputs: { __provider: old, host: "host-1" },
            outputs: { __provider: old, host: "host-1" },
          },
          { urn: "urn:pulumi:local::dockfleet::pulumi:pulumi:Stack::dockfleet-local" },
          {
            urn: "urn:pulumi:local::dockfleet::dockfleet:RegistryPassword::pw",
            inputs: { __provider: current },
            outputs: { __provider: current },
          },
        ],
      },
    };

    const count = migrateStackExport(exported, providerLocator(), providerModuleText);

    assert.equal(count, 2, "the inputs' and the outputs' provider of the old resource");
    const [migrated, , untouched] = exported.deployment.resources;
    const text = migrated.inputs?.__provider as string;
    assert.equal(migrated.outputs?.__provider, text);
    assert.doesNotMatch(text, /\/some\/old\/checkout/);
    assert.doesNotMatch(text, new RegExp(process.cwd().replace(/[/.]/g, "\\$&")));
    assert.match(text, /relativeModule = "components\/engine\/resources\/docker-config\.ts"/);
    assert.equal(untouched.inputs?.__provider, current, "an up-to-date provider is left alone");

    // Loaded as Pulumi loads it, from the program's folder: the real provider answers a diff.
    const provider = loadSerializedProvider(text);
    const inputs = DOCKER_CONFIG_INPUTS;
    assert.equal((await provider.diff("host-1-docker-config", inputs, inputs)).changes, false);
    assert.equal(
      (await provider.diff("host-1-docker-config", inputs, { ...inputs, daemonJson: "{ }" }))
        .changes,
      true,
    );
  });

  it("fails with the provider's name when this dockfleet no longer has it", () => {
    const exported = {
      deployment: {
        resources: [
          {
            urn: "urn:x",
            outputs: {
              __provider: oldProviderText("/old/provision/providers/x.ts", "goneProvider"),
            },
          },
        ],
      },
    };
    assert.throws(
      () => migrateStackExport(exported, providerLocator(), providerModuleText),
      /no module of dockfleet at .* exports goneProvider/,
    );
  });
});
