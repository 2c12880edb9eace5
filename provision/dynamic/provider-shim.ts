import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The provider object that Pulumi serializes into state: a few lines that load the real provider
 * from its module in the dynamic-provider process.
 *
 * Why: Pulumi serializes a dynamic provider's closure, and with it every module the provider
 * touches (the SSH layer, the PKI library, symbols, classes); that proved fragile and bloats the
 * state. Loaded by `require`, the provider code runs as ordinary modules: one SSH connection pool
 * per process, real stack traces. TypeScript sources (the program run by ts-node) are loaded
 * through ts-node in transpile-only mode, as Pulumi runs the program itself.
 *
 * What is serialized names the module relative to dockfleet's package root, never an absolute
 * path: state written from one clone is refreshed and destroyed from another one, a CI runner or
 * a consumer's node_modules. The dynamic-provider process runs in the program's folder, where the
 * root is found again (see `findPackageRoot`).
 */
export function loadedProvider(
  moduleFile: string,
  exportName: string,
): pulumi.dynamic.ResourceProvider {
  // One object per provider: Pulumi caches a provider's serialization by object, so every
  // resource of a kind after the first costs no closure serialization and no package lookup.
  const key = `${moduleFile}#${exportName}`;
  let provider = loaders.get(key);
  if (provider === undefined) {
    provider = providerLoader(moduleInPackage(moduleFile), exportName);
    loaders.set(key, provider);
  }
  return provider;
}

const loaders = new Map<string, pulumi.dynamic.ResourceProvider>();

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
 * The serialized part. Everything inside `providerLoader` may use only its arguments, globals and
 * `require`: Pulumi captures it as source text.
 */
export function providerLoader(
  relativeModule: string,
  exportName: string,
): pulumi.dynamic.ResourceProvider {
  const load = (): pulumi.dynamic.ResourceProvider => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const nodeFs: typeof import("node:fs") = require("node:fs");
    const nodePath: typeof import("node:path") = require("node:path");
    // The program's folder: Pulumi starts the dynamic-provider process there.
    const cwd = process.cwd();
    const isDockfleet = (dir: string): boolean => {
      try {
        const manifest = nodePath.join(dir, "package.json");
        return JSON.parse(nodeFs.readFileSync(manifest, "utf8")).name === "dockfleet";
      } catch {
        return false;
      }
    };
    // A consumer's program finds dockfleet in its node_modules; dockfleet's own program is in
    // the package itself (this checkout, wherever it was cloned).
    const findPackageRoot = (): string => {
      try {
        return nodePath.dirname(require.resolve("dockfleet/package.json", { paths: [cwd] }));
      } catch {
        for (let dir = cwd; ; dir = nodePath.dirname(dir)) {
          if (isDockfleet(dir)) return dir;
          if (nodePath.dirname(dir) === dir) break;
        }
      }
      throw new Error(`dockfleet's package is neither at nor above ${cwd} nor in its node_modules`);
    };
    const moduleFile = nodePath.join(findPackageRoot(), relativeModule);
    const registered = Symbol.for("dockfleet.tsNodeRegistered");
    const state = globalThis as Record<symbol, boolean>;
    if (moduleFile.endsWith(".ts") && !state[registered]) {
      // swc transpiles the provider modules in a quarter of TypeScript's CPU time.
      require("ts-node").register({ swc: true, compilerOptions: { module: "commonjs" } });
      state[registered] = true;
    }
    return require(moduleFile)[exportName];
    /* eslint-enable @typescript-eslint/no-require-imports */
  };
  return {
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
  };
}
