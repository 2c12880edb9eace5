import { dockfleetProgram } from "./components/stack/program";

// Pulumi's program runner installs source-map-support, which then maps the stack trace Pulumi
// captures for every resource and promise: a fifth of a no-change `up`'s CPU here. dockfleet's
// modules carry no source maps (provision/dynamic/register-typescript.cjs), so V8's own stack
// traces say as much.
if (process.env.DOCKFLEET_SOURCE_MAPS !== "1") Reflect.deleteProperty(Error, "prepareStackTrace");

// The Pulumi program (Pulumi.yaml `main`): the module's exports are the stack's outputs, whose one
// declaration is components/stack/outputs.ts (StackOutputs).
export = dockfleetProgram();
