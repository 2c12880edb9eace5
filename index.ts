import { dockfleetProgram } from "./components/stack/program";

// The Pulumi program (Pulumi.yaml `main`): the module's exports are the stack's outputs, whose one
// declaration is components/stack/outputs.ts (StackOutputs).
export = dockfleetProgram();
