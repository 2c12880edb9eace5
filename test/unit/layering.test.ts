import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

// Imports only go downward (docs/architecture.md):
//   provision < machines < engine < etcd, swarm, registry < apps < stack < the program and cli/.
// provision/ imports nothing from components/ or cli/; components/ never imports cli/ or the
// program's entry (index.ts); a concept of components/ imports only concepts on a lower rung, not
// the concepts beside it. components/index.ts (the library entry) sits above every concept.

const ROOT = path.resolve(__dirname, "..", "..");

/** The concepts of components/, lowest rung first. */
const CONCEPT_RUNGS: readonly (readonly string[])[] = [
  ["machines"],
  ["engine"],
  ["etcd", "swarm", "registry"],
  ["apps"],
  ["monitoring"],
  ["stack"],
];

interface Layer {
  /** Imports within one layer are free. */
  name: string;
  /** A layer imports only layers of a lower rank. */
  rank: number;
}

const PROVISION: Layer = { name: "provision/", rank: 0 };
const LIBRARY_ENTRY: Layer = { name: "components/index.ts", rank: CONCEPT_RUNGS.length + 1 };
const ABOVE_ALL = Number.POSITIVE_INFINITY;

/** The layer of a repository path (forward slashes, with or without its extension). */
function layerOf(target: string): Layer {
  const parts = target.split("/");
  if (parts[0] === "provision") return PROVISION;
  if (parts[0] === "components") {
    if (parts.length === 1) return LIBRARY_ENTRY; // "components" is components/index.ts
    const concept = parts[1];
    const rung = CONCEPT_RUNGS.findIndex((concepts) => concepts.includes(concept));
    if (rung >= 0) return { name: `components/${concept}/`, rank: rung + 1 };
    const isFolder = fs.statSync(path.join(ROOT, "components", concept), {
      throwIfNoEntry: false,
    });
    // A new concept folder must be given its place in CONCEPT_RUNGS first.
    if (parts.length > 2 || isFolder?.isDirectory()) {
      return { name: `components/${concept}/ (not in the order)`, rank: ABOVE_ALL };
    }
    return LIBRARY_ENTRY;
  }
  // cli/, index.ts (the program's entry), bin/, test/: above everything checked here.
  return { name: parts.length === 1 ? target : `${parts[0]}/`, rank: ABOVE_ALL };
}

/** Every module specifier of a file: imports, re-exports, require() and import() (types too). */
function moduleSpecifiers(file: string, text: string): { specifier: string; line: number }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: { specifier: string; line: number }[] = [];
  const add = (node: ts.Node | undefined): void => {
    if (node && ts.isStringLiteralLike(node)) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      found.push({ specifier: node.text, line });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node)) {
      if (ts.isExternalModuleReference(node.moduleReference)) {
        add(node.moduleReference.expression);
      }
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      if (isRequire || callee.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The imports of one file (repository path, forward slashes) that go upward or sideways. */
function upwardImports(file: string, text: string): string[] {
  const from = layerOf(file);
  const problems: string[] = [];
  for (const { specifier, line } of moduleSpecifiers(file, text)) {
    let target: string;
    if (specifier.startsWith(".")) {
      target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
    } else if (specifier === "dockfleet" || specifier.startsWith("dockfleet/")) {
      target = "components"; // the package itself: its library entry
    } else {
      continue; // node:, npm packages
    }
    const to = layerOf(target);
    if (to.name === from.name && to.rank !== ABOVE_ALL) continue;
    if (to.rank < from.rank) continue;
    problems.push(`${file}:${line} imports "${specifier}": ${from.name} may not import ${to.name}`);
  }
  return problems;
}

function tsFilesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const child = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && !entry.name.startsWith(".")) {
        files.push(...tsFilesUnder(child));
      }
    } else if (entry.name.endsWith(".ts")) {
      files.push(child);
    }
  }
  return files;
}

describe("layering: imports only go downward", () => {
  it("no file under provision/ or components/ imports upward or sideways", () => {
    const files = [...tsFilesUnder("provision"), ...tsFilesUnder("components")];
    assert.ok(files.length > 50, `only ${files.length} files found under provision/, components/`);
    const problems = files.flatMap((file) =>
      upwardImports(file, fs.readFileSync(path.join(ROOT, file), "utf8")),
    );
    assert.deepEqual(problems, []);
  });

  it("the check itself: flags what goes upward, passes what goes down", () => {
    const flagged = (file: string, text: string): boolean => upwardImports(file, text).length > 0;
    // provision/ imports nothing from components/ or cli/.
    assert.ok(flagged("provision/ssh/x.ts", `import { a } from "../../components/engine/plan";`));
    assert.ok(flagged("provision/x.ts", `export * from "../components";`));
    assert.ok(flagged("provision/dynamic/x.ts", `import type { B } from "../../cli/main";`));
    assert.ok(flagged("provision/dynamic/x.ts", `const m = require("../../components/stack");`));
    assert.ok(flagged("provision/dynamic/x.ts", `type M = typeof import("../../index");`));
    // A concept imports only concepts on a lower rung.
    assert.ok(flagged("components/engine/x.ts", `import { c } from "../stack/config";`));
    assert.ok(flagged("components/machines/local/x.ts", `import "../../engine";`));
    assert.ok(
      flagged("components/swarm/resources/x.ts", `import { p } from "../../registry/plan";`),
    );
    assert.ok(flagged("components/apps/x.ts", `import { E } from "..";`));
    assert.ok(flagged("components/stack/x.ts", `import { main } from "../../cli/main";`));
    assert.ok(flagged("components/stack/x.ts", `import program from "../../index";`));
    assert.ok(flagged("components/stack/x.ts", `import { DockerEngine } from "dockfleet";`));
    // Downward, within a layer, packages, comments: allowed.
    const text = [
      `import * as pulumi from "@pulumi/pulumi";`,
      `import { DynamicResource } from "../../../provision/dynamic/resource";`,
      `import type { JsonValue } from "../../engine/plan";`,
      `import type { Machine } from "../../machines/machine";`,
      `import { planSwarm } from "../plan";`,
      `// } from "../../stack/config";`,
    ].join("\n");
    assert.deepEqual(upwardImports("components/swarm/resources/x.ts", text), []);
    assert.deepEqual(upwardImports("components/index.ts", `export * from "./stack";`), []);
    assert.deepEqual(upwardImports("provision/ssh/x.ts", `import "../dynamic/resource";`), []);
  });
});
