import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The `__provider` text of a dockfleet dynamic resource: a few lines of JavaScript that load the
 * real provider from its module in the dynamic-provider process, which evaluates the text and
 * calls its `handler()`.
 *
 * Why: Pulumi's own `dynamic.Resource` serializes a provider's closure, and with it every module
 * the provider touches (the SSH layer, the PKI library, symbols, classes); that proved fragile,
 * bloats the state, and costs the program the closure serializer's work on every run. Loaded by
 * `require`, the provider code runs as ordinary modules: one SSH connection pool per process,
 * real stack traces. TypeScript sources load through register-typescript.cjs, as the program's do.
 * The text is written here by hand, so it is the same whichever transpiler ran the program.
 *
 * What it names is the module relative to dockfleet's package root, never an absolute path: state
 * written from one clone is refreshed and destroyed from another one, a CI runner or a consumer's
 * node_modules. The dynamic-provider process runs in the program's folder, where the root is
 * found again.
 */
export function providerModuleText(moduleFile: string, exportName: string): string {
  const key = `${moduleFile}#${exportName}`;
  let text = texts.get(key);
  if (text === undefined) {
    text = loaderText(moduleInPackage(moduleFile), exportName, packageRootHint);
    texts.set(key, text);
  }
  return text;
}

const texts = new Map<string, string>();

/** See `namePackageRootInLoaders`. */
let packageRootHint: string | undefined;

/**
 * Makes the loader texts also name ROOT, dockfleet's package folder, tried first. For dockfleet's
 * component provider (provider/) only: the project that runs it (a Pulumi YAML program) may be
 * anywhere, with no dockfleet at or above its folder, where the dynamic-provider process starts.
 * Such a stack is tied to this folder anyway: its Pulumi.yaml names the provider by path. Other
 * programs never call it, so their state keeps no folder of the machine.
 */
export function namePackageRootInLoaders(root: string): void {
  packageRootHint = root;
  texts.clear();
}

/** The name dockfleet's package.json carries: how its root is recognised. */
export const PACKAGE_NAME = "dockfleet";

/** `moduleFile` relative to dockfleet's package root, with forward slashes. */
export function moduleInPackage(moduleFile: string): string {
  for (let dir = path.dirname(moduleFile); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && readPackageName(manifest) === PACKAGE_NAME) {
      return path.relative(dir, moduleFile).split(path.sep).join("/");
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`${moduleFile} is not inside the ${PACKAGE_NAME} package`);
    }
  }
}

function readPackageName(manifest: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/**
 * The loader for one provider export, as JavaScript source (see `providerModuleText`); with
 * ROOTHINT, that folder is tried first (see `namePackageRootInLoaders`). Without it, the text is
 * the same as before the hint existed, so existing states see no change.
 */
export function loaderText(relativeModule: string, exportName: string, rootHint?: string): string {
  const tryHint =
    rootHint === undefined
      ? ""
      : `  // The folder dockfleet's component provider ran from (a project using it may be anywhere).
  if (isDockfleet(${JSON.stringify(rootHint)})) return ${JSON.stringify(rootHint)};
`;
  return `"use strict";
// dockfleet: the provider is loaded from dockfleet's package (provision/dynamic/provider-shim.ts).
const fs = require("fs");
const path = require("path");
const relativeModule = ${JSON.stringify(relativeModule)};
const exportName = ${JSON.stringify(exportName)};
function isDockfleet(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).name === "dockfleet";
  } catch {
    return false;
  }
}
// A consumer's program finds dockfleet in its node_modules; dockfleet's own program is in the
// package itself (this checkout, wherever it was cloned). Pulumi starts this process there.
function packageRoot() {
${tryHint}  const cwd = process.cwd();
  try {
    return path.dirname(require.resolve("dockfleet/package.json", { paths: [cwd] }));
  } catch {
    for (let dir = cwd; ; dir = path.dirname(dir)) {
      if (isDockfleet(dir)) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error(\`dockfleet's package is neither at nor above \${cwd} nor in its node_modules\`);
}
function load() {
  const root = packageRoot();
  const moduleFile = path.join(root, relativeModule);
  // A checkout runs its TypeScript sources; a published package, compiled JavaScript.
  if (moduleFile.endsWith(".ts")) {
    require(path.join(root, "provision", "dynamic", "register-typescript.cjs"));
  }
  return require(moduleFile)[exportName];
}
exports.handler = () => ({
  check: (olds, news) => {
    const provider = load();
    return provider.check ? provider.check(olds, news) : Promise.resolve({ inputs: news });
  },
  diff: (id, olds, news) => {
    const provider = load();
    return provider.diff ? provider.diff(id, olds, news) : Promise.resolve({});
  },
  create: (inputs) => load().create(inputs),
  read: (id, props) => {
    const provider = load();
    return provider.read ? provider.read(id, props) : Promise.resolve({ id, props });
  },
  update: (id, olds, news) => {
    const provider = load();
    return provider.update ? provider.update(id, olds, news) : Promise.resolve({ outs: news });
  },
  delete: (id, props) => {
    const provider = load();
    return provider.delete ? provider.delete(id, props) : Promise.resolve();
  },
});
`;
}
