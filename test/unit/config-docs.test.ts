import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { z } from "zod";
import {
  CONFIG_DOC,
  generateConfigReference,
  type JsonSchema,
  renderConfigReference,
} from "../../bin/gen-config-docs";
import { EngineConfigSchema } from "../../components/engine/config";
import { StackConfigSchema } from "../../components/stack/config";

/** docs/configuration.md is generated from the schema the program validates with: never stale. */
describe("configuration reference", () => {
  it("matches what the current schema generates", () => {
    const committed = fs.existsSync(CONFIG_DOC) ? fs.readFileSync(CONFIG_DOC, "utf8") : "(missing)";
    assert.ok(
      committed === generateConfigReference(),
      "docs/configuration.md differs from the schema in components/stack/config.ts: " +
        "run `npx tsx bin/gen-config-docs.ts` and commit the result",
    );
  });

  it("would change when the schema gains a key (the check can fail)", () => {
    const schema = z.strictObject({
      hosts: z.int().min(1).max(20).default(3).describe("How many hosts."),
      engine: z.strictObject({ tlsPort: z.int().default(2376) }).default({ tlsPort: 2376 }),
    });
    const grown = schema.extend({ newKey: z.enum(["a", "b"]).describe("A key added later.") });
    const render = (s: z.ZodType) =>
      renderConfigReference(z.toJSONSchema(s, { io: "input" }) as JsonSchema);
    const before = render(schema);
    const after = render(grown);
    assert.notEqual(before, after);
    assert.match(
      after,
      /\| `dockfleet:newKey` \| `"a"`, `"b"` \| \*\*required\*\* \| A key added later\. \|/,
    );
    assert.match(before, /\| `dockfleet:engine.tlsPort` \| integer \| `2376` \|/);
  });

  it("documents every key of the schema with the description in its metadata", () => {
    const page = generateConfigReference();
    const described = (schema: z.ZodType) => z.globalRegistry.get(schema)?.description;
    const keys = Object.entries(StackConfigSchema.shape);
    assert.ok(keys.filter(([, schema]) => described(schema) !== undefined).length >= 5);
    for (const [key, schema] of keys) {
      assert.ok(page.includes(`\`dockfleet:${key}\``), `dockfleet:${key} is on the page`);
      const description = described(schema);
      if (description !== undefined) {
        assert.ok(page.includes(description.replaceAll("|", "\\|")), description);
      }
    }
    // Nested keys carry their descriptions where their component declares them.
    const tlsPort = described(EngineConfigSchema.shape.tlsPort);
    assert.equal(tlsPort, "Port of the TLS-protected remote API.");
    assert.match(
      page,
      /\| `dockfleet:engine\.tlsPort` \| .* \| Port of the TLS-protected remote API\. \|/,
    );
  });
});
