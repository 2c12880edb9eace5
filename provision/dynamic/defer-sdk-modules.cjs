// @ts-check
"use strict";
/**
 * Defers two modules that Pulumi's Node.js SDK loads at start-up for its closure serializer:
 * TypeScript's compiler (9 MB of JavaScript) and npm's arborist. dockfleet never serializes a
 * closure (provider-shim.ts writes its providers' text itself), yet loading them was about two
 * thirds of the CPU of `require("@pulumi/pulumi")`, paid by the program and again by the
 * dynamic-provider process on every `up`, `preview` and `refresh`.
 *
 * The SDK receives a stand-in that loads the real module the first time anything in it is used,
 * so code that does use them still works. Only requests made from the SDK's own files are
 * deferred. Loaded with `--require`: by Pulumi.yaml's nodeargs for the program, and through
 * NODE_OPTIONS (bin/lib/pulumi.sh) for the dynamic-provider process, which nodeargs do not reach.
 */
const Module = require("node:module");

const DEFERRED = new Set(["typescript", "@npmcli/arborist"]);
const SDK_FILE = /[\\/]node_modules[\\/]@pulumi[\\/]pulumi[\\/]/;
const INSTALLED = Symbol.for("dockfleet.sdkModulesDeferred");

/**
 * @param {() => object} load
 * @returns {object}
 */
function deferredModule(load) {
  /** @type {object | undefined} */
  let loaded;
  const real = () => (loaded ??= load());
  return new Proxy(
    {},
    {
      // `__esModule` lets TypeScript's import helpers hand the stand-in over untouched.
      get: (_target, key) => (key === "__esModule" ? true : Reflect.get(real(), key)),
      has: (_target, key) => Reflect.has(real(), key),
      ownKeys: () => Reflect.ownKeys(real()),
      getOwnPropertyDescriptor: (_target, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
        // A proxy may not report a property as non-configurable that its target lacks.
        if (descriptor) descriptor.configurable = true;
        return descriptor;
      },
    },
  );
}

const state = /** @type {Record<symbol, boolean>} */ (/** @type {unknown} */ (globalThis));
if (!state[INSTALLED]) {
  state[INSTALLED] = true;
  const loader =
    /** @type {{ _load(request: string, parent: { filename?: string } | undefined, isMain: boolean): object }} */ (
      /** @type {unknown} */ (Module)
    );
  const load = loader._load;
  loader._load = function (request, parent, isMain) {
    if (DEFERRED.has(request) && SDK_FILE.test(parent?.filename ?? "")) {
      return deferredModule(() => load.call(this, request, parent, isMain));
    }
    return load.call(this, request, parent, isMain);
  };
}
