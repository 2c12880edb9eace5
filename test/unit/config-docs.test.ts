import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { z } from "zod";
import {
  CONFIG_DOC,
  CONFIG_SOURCE,
  generateConfigReference,
  type JsonSchema,
  readSourceComments,
  renderConfigReference,
} from "../../bin/gen-config-docs";

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
      /** How many hosts. */
      hosts: z.int().min(1).max(20).default(3),
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

  it("documents every key of the schema with the doc comment above it in the source", () => {
    const page = generateConfigReference();
    const comments = readSourceComments(CONFIG_SOURCE, "StackConfigSchema");
    assert.ok(Object.keys(comments.keys).length >= 5, "the source's keys were found");
    for (const [key, { comment }] of Object.entries(comments.keys)) {
      assert.ok(page.includes(`\`dockfleet:${key}\``), `dockfleet:${key} is on the page`);
      if (comment !== undefined) assert.ok(page.includes(comment.replaceAll("|", "\\|")), comment);
    }
    // Nested keys reach their own comments through the const they are built from.
    assert.equal(
      comments.keys.engine?.child?.keys.tlsPort?.comment,
      "Port of the TLS-protected remote API.",
    );
  });
});
