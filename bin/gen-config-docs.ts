/**
 * Writes docs/configuration.md from the one schema the program validates stack config with
 * (StackConfigSchema in components/stack/config.ts): types, allowed values and defaults come
 * from z.toJSONSchema, and each key's description from the schema's metadata (`.describe(...)`
 * where the key's schema is declared: components/<component>/config.ts, components/machines/
 * config.ts, components/stack/config.ts). test/unit/config-docs.test.ts fails when the committed
 * file differs from what this generates.
 *
 *   npx tsx bin/gen-config-docs.ts           rewrite docs/configuration.md
 *   npx tsx bin/gen-config-docs.ts --check   exit 1 if it is out of date
 */
import * as path from "node:path";
import { z } from "zod";
import { StackConfigSchema } from "../components/stack/config";
import { writeOrCheckGeneratedDoc } from "./generated-doc";

const ROOT = path.resolve(__dirname, "..");
export const CONFIG_DOC = path.join(ROOT, "docs", "configuration.md");
const NAMESPACE = "dockfleet";

/** The subset of JSON Schema that z.toJSONSchema emits and this page renders. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure).

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

const code = (text: string) => `\`${text.replaceAll("`", "'")}\``;
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function objectVariant(schema: JsonSchema): JsonSchema | undefined {
  if (schema.properties !== undefined) return schema;
  return [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])].find(
    (variant) => variant.properties !== undefined,
  );
}

/** Pure: a short, human description of a JSON Schema type. */
export function describeType(schema: JsonSchema): string {
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants !== undefined) return variants.map(describeType).join(" or ");
  if (schema.const !== undefined) return code(JSON.stringify(schema.const));
  if (schema.enum !== undefined)
    return schema.enum.map((value) => code(JSON.stringify(value))).join(", ");
  const type = Array.isArray(schema.type) ? schema.type.join(" or ") : schema.type;
  const bounds = (min?: number, max?: number, unit = "") =>
    min !== undefined && max !== undefined
      ? ` (${min}–${max}${unit})`
      : min !== undefined
        ? ` (≥ ${min}${unit})`
        : max !== undefined
          ? ` (≤ ${max}${unit})`
          : "";
  switch (type) {
    case "integer":
    case "number": {
      // z.int() carries the safe-integer limits: no bound worth printing.
      const min = schema.minimum ?? schema.exclusiveMinimum;
      const max = schema.maximum ?? schema.exclusiveMaximum;
      return `${type}${bounds(
        min !== undefined && min > Number.MIN_SAFE_INTEGER ? min : undefined,
        max !== undefined && max < Number.MAX_SAFE_INTEGER ? max : undefined,
      )}`;
    }
    case "string": {
      const details = [
        schema.format ? `format ${schema.format}` : "",
        schema.pattern ? `matching ${code(schema.pattern)}` : "",
        schema.minLength !== undefined && schema.minLength > 0 && !schema.pattern
          ? "non-empty"
          : "",
      ].filter(Boolean);
      return details.length > 0 ? `string, ${details.join(", ")}` : "string";
    }
    case "array":
      return `list of ${schema.items ? describeType(schema.items) : "values"}${bounds(schema.minItems, schema.maxItems, " items")}`;
    case "object":
      if (schema.properties !== undefined) return "object";
      if (typeof schema.additionalProperties === "object") {
        const values = describeType(schema.additionalProperties) || "any value";
        const keys = schema.propertyNames?.pattern
          ? ` (keys matching ${code(schema.propertyNames.pattern)})`
          : "";
        return `map of string to ${values}${keys}`;
      }
      return "object";
    case undefined:
      return "any value";
    default:
      return type;
  }
}

function describeDefault(schema: JsonSchema, required: boolean): string {
  if (schema.default !== undefined) {
    const text = JSON.stringify(schema.default);
    // Objects whose keys have their own rows: their defaults are listed there.
    return objectVariant(schema) !== undefined && text.length > 40 ? "(see its keys)" : code(text);
  }
  return required ? "**required**" : "unset";
}

function collectRows(schema: JsonSchema, prefix: string, rows: Row[]): void {
  const required = new Set(schema.required ?? []);
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const key = prefix === "" ? `${NAMESPACE}:${name}` : `${prefix}.${name}`;
    rows.push({
      key,
      type: describeType(property),
      default: describeDefault(property, required.has(name)),
      description: property.description ?? "",
    });
    const nested = objectVariant(property);
    if (nested !== undefined) collectRows(nested, key, rows);
    const items = property.items === undefined ? undefined : objectVariant(property.items);
    if (items !== undefined) collectRows(items, `${key}[]`, rows);
  }
}

/** Pure: the Markdown page for a stack config JSON Schema (descriptions from its metadata). */
export function renderConfigReference(schema: JsonSchema): string {
  const rows: Row[] = [];
  collectRows(schema, "", rows);
  const sections = new Map<string, Row[]>();
  for (const row of rows) {
    // Top-level scalars together; each structured key with everything under it.
    const top = row.key.slice(NAMESPACE.length + 1).split(/[.[]/)[0];
    const structured =
      objectVariant(schema.properties?.[top] ?? {}) ?? schema.properties?.[top]?.items;
    const section = structured !== undefined && objectVariant(structured) !== undefined ? top : "";
    sections.set(section, [...(sections.get(section) ?? []), row]);
  }
  const table = (sectionRows: Row[]) => [
    "| Key | Type | Default | Description |",
    "| --- | --- | --- | --- |",
    ...sectionRows.map(
      (row) =>
        `| ${code(row.key)} | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.description)} |`,
    ),
  ];
  const lines = [
    "# Configuration reference",
    "",
    "<!-- GENERATED by bin/gen-config-docs.ts from StackConfigSchema in components/stack/config.ts.",
    "     Do not edit by hand: run `npx tsx bin/gen-config-docs.ts`. A unit test fails when this file is stale. -->",
    "",
    "Every key lives in the `dockfleet` namespace of a stack file, `stacks/Pulumi.<stack>.yaml`, and",
    "every key is optional unless marked **required**. The program validates the whole file with this",
    "schema before it creates anything; an error names the key, the value and what is allowed.",
    "Structured keys are written as YAML under their top-level key, for example:",
    "",
    "```yaml",
    "config:",
    "  dockfleet:hosts: 2",
    "  dockfleet:engine:",
    "    registryMirrors: [https://mirror.example.com]",
    "```",
    "",
    "Secrets (such as `dockfleet:sshPrivateKey`) are set with `pulumi config set --secret`.",
    "`key[]` stands for each item of a list.",
    "",
    "## Top-level keys",
    "",
    ...table(sections.get("") ?? []),
  ];
  for (const [section, sectionRows] of sections) {
    if (section === "") continue;
    lines.push("", `## ${code(`${NAMESPACE}:${section}`)}`, "", ...table(sectionRows));
  }
  return `${lines.join("\n")}\n`;
}

/** The page for the schema as it is now in the source tree. */
export function generateConfigReference(): string {
  const schema = z.toJSONSchema(StackConfigSchema, {
    io: "input",
    unrepresentable: "any",
  }) as JsonSchema;
  return renderConfigReference(schema);
}

if (require.main === module) {
  writeOrCheckGeneratedDoc(CONFIG_DOC, generateConfigReference(), ROOT, "bin/gen-config-docs.ts");
}
