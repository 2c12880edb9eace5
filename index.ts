// First: it turns off source-map-support's stack-trace mapping before anything else loads.
import "./provision/dynamic/plain-stack-traces";
import { dockfleetProgram } from "./components/stack/program";

// The Pulumi program (Pulumi.yaml `main`): the module's exports are the stack's outputs, whose one
// declaration is components/stack/outputs.ts (StackOutputs).
export = dockfleetProgram();
