import type * as pulumi from "@pulumi/pulumi";

/**
 * The provider object that Pulumi serializes into state: a few lines that load the real provider
 * from its module in the dynamic-provider process, by file name.
 *
 * Why: Pulumi serializes a dynamic provider's closure, and with it every module the provider
 * touches (the SSH layer, the PKI library, symbols, classes); that proved fragile and bloats the
 * state. Loaded by `require`, the provider code runs as ordinary modules: one SSH connection pool
 * per process, real stack traces. TypeScript sources (the program run by ts-node) are loaded
 * through ts-node in transpile-only mode, as Pulumi runs the program itself.
 */
export function loadedProvider(
  moduleFile: string,
  exportName: string,
): pulumi.dynamic.ResourceProvider {
  // Everything below is serialized: it may use only its arguments, globals and `require`.
  const load = (): pulumi.dynamic.ResourceProvider => {
    const registered = Symbol.for("dockfleet.tsNodeRegistered");
    const state = globalThis as Record<symbol, boolean>;
    if (moduleFile.endsWith(".ts") && !state[registered]) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require("ts-node").register({ transpileOnly: true, compilerOptions: { module: "commonjs" } });
      state[registered] = true;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(moduleFile)[exportName];
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
