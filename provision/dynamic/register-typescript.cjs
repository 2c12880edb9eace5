// @ts-check
"use strict";
/**
 * Lets `require` load dockfleet's TypeScript in the processes `pulumi up` starts: the program
 * (Pulumi.yaml `nodeargs: --require`) and the dynamic-provider process (provider-shim.ts). Each
 * file is transpiled by swc once and cached on disk by a hash of its content, so an `up` that
 * changes nothing loads JavaScript straight from the cache.
 *
 * Why not ts-node (what Pulumi uses for `typescript: true`): it loads TypeScript's compiler just to
 * read tsconfig, transpiles every file on every start, and installs source-map-support, which
 * maps the stack trace Pulumi captures for every resource and promise. Types are checked by
 * `tsc --noEmit` in bin/test instead.
 *
 * No source maps by default, for the same reason (index.ts explains the rest); stack traces
 * point into swc's output, which keeps the sources' shape. DOCKFLEET_SOURCE_MAPS=1 embeds maps
 * and keeps them in use, for debugging.
 *
 * Plain JavaScript on purpose: it runs before anything can load TypeScript.
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const REGISTERED = Symbol.for("dockfleet.typescriptRegistered");

const SOURCE_MAPS = process.env.DOCKFLEET_SOURCE_MAPS === "1";

/** Options equivalent to tsconfig.json (ES2022, CommonJS, esModuleInterop) as ts-node gives swc. */
const SWC_OPTIONS = {
  swcrc: false,
  sourceMaps: SOURCE_MAPS ? "inline" : false,
  module: { type: "commonjs", strictMode: true, noInterop: false },
  jsc: {
    parser: { syntax: "typescript", dynamicImport: true },
    target: "es2022",
    keepClassNames: true,
    transform: { useDefineForClassFields: true },
  },
};

const cacheDir =
  process.env.DOCKFLEET_TRANSPILE_CACHE ||
  path.join(__dirname, "..", "..", "node_modules", ".cache", "dockfleet-swc");

/** swc's version, from its manifest: a cache hit must not load swc itself. */
const SWC_VERSION = require("@swc/core/package.json").version;

/**
 * @param {string} source
 * @param {string} filename
 * @returns {string}
 */
function transpile(source, filename) {
  const key = crypto
    .createHash("sha256")
    .update(`${SWC_VERSION}\0${JSON.stringify(SWC_OPTIONS)}\0${filename}\0${source}`)
    .digest("hex");
  const cached = path.join(cacheDir, `${key}.js`);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch {
    // Not transpiled yet.
  }
  /** @type {typeof import("@swc/core")} */
  const swc = require("@swc/core");
  const { code } = swc.transformSync(source, { ...SWC_OPTIONS, filename });
  try {
    // Written under a temporary name and renamed: processes that start together never read half.
    fs.mkdirSync(cacheDir, { recursive: true });
    const partial = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(partial, code);
    fs.renameSync(partial, cached);
  } catch {
    // A read-only checkout still runs, transpiling on every start.
  }
  return code;
}

const state = /** @type {Record<symbol, boolean>} */ (/** @type {unknown} */ (globalThis));
if (!state[REGISTERED]) {
  state[REGISTERED] = true;
  // Stack traces point into the TypeScript sources (Node reads the inline maps only when a trace
  // is printed, unlike source-map-support).

  require.extensions[".ts"] = (module, filename) => {
    const compile = /** @type {{ _compile(code: string, file: string): void }} */ (
      /** @type {unknown} */ (module)
    )._compile;
    compile.call(module, transpile(fs.readFileSync(filename, "utf8"), filename), filename);
  };
}
