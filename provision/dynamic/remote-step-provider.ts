import type * as pulumi from "@pulumi/pulumi";
import { withHostFacts, type FactsProbe, type ProbedOutputs } from "./host-facts";
import { diffRemoteStep, type RemoteStepInputs } from "./remote-step";

/** A remote step that makes a host match its inputs, the same way on create and on update. */
export interface RemoteStepProviderSpec<Inputs extends RemoteStepInputs, Outputs extends Inputs> {
  /** The resource's id, from its inputs ("host-1-docker-config"). */
  id: (inputs: Inputs) => string;
  /** Inputs whose change is applied in place; another host replaces the step (diffRemoteStep). */
  updateKeys: readonly (keyof Inputs)[];
  /** Makes the host match `inputs` (safe to repeat); `olds` is what was applied before, if any. */
  apply: (inputs: Inputs, olds?: Outputs) => Promise<Outputs>;
  /** Undoes what `apply` did; skips a host that is gone (runUndoStep). Without it, delete only forgets. */
  remove?: (props: Outputs) => Promise<void>;
  /** What the step leaves on the host (host-facts.ts): recorded after apply, read by refresh. */
  probe: (outs: Outputs) => FactsProbe;
}

/**
 * The provider of an idempotent remote step: create and update both apply the inputs, diff
 * follows diffRemoteStep (and a drift found by refresh is an update: applying again repairs it),
 * read compares the host with what the step left there, delete undoes. Providers whose steps
 * differ between create and update (etcd members, swarm nodes) write their own.
 */
export function remoteStepProvider<Inputs extends RemoteStepInputs, Outputs extends Inputs>(
  spec: RemoteStepProviderSpec<Inputs, Outputs>,
): pulumi.dynamic.ResourceProvider<Inputs, Outputs & ProbedOutputs> {
  return withHostFacts<Inputs, Outputs>(
    {
      async create(inputs) {
        return { id: spec.id(inputs), outs: await spec.apply(inputs) };
      },
      async diff(_id, olds, news) {
        return diffRemoteStep(olds, news, spec.updateKeys);
      },
      async update(_id, olds, news) {
        return { outs: await spec.apply(news, olds) };
      },
      async delete(_id, props) {
        await spec.remove?.(props);
      },
    },
    spec.probe,
  );
}
