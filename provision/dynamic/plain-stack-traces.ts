// Imported first by the program (index.ts), so that it runs before any other module loads.
//
// Pulumi's program runner installs source-map-support, which then maps the stack trace Pulumi
// captures for every resource and promise, and every trace taken while the program's modules
// load: a fifth of a no-change `up`'s CPU here. dockfleet's modules carry no source maps
// (register-typescript.cjs), so V8's own stack traces say as much. DOCKFLEET_SOURCE_MAPS=1 keeps
// the mapping, with maps, for debugging.
if (process.env.DOCKFLEET_SOURCE_MAPS !== "1") Reflect.deleteProperty(Error, "prepareStackTrace");
