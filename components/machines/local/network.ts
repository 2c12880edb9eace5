import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";
import { localNetworkName, renderNetworkCreateArgs } from "./run-args";
import { runDocker, runDockerIgnoringMissing } from "./docker-cli";

interface LocalNetworkInputs {
  stack: string;
  subnet: string;
  /** Docker's --internal: no route out of this machine. */
  internal?: boolean;
}

interface LocalNetworkOutputs extends LocalNetworkInputs {
  networkName: string;
}

export const localNetworkProvider: pulumi.dynamic.ResourceProvider<
  LocalNetworkInputs,
  LocalNetworkOutputs
> = {
  async create(inputs) {
    const network = localNetworkName(inputs.stack);
    // A network left by an interrupted run of this same stack is adopted, not duplicated.
    const existing = await runDocker([
      "network",
      "ls",
      "--quiet",
      "--filter",
      `name=^${network}$`,
      "--filter",
      `label=dockfleet.io/stack=${inputs.stack}`,
    ]);
    if (existing.trim() === "") {
      await runDocker(renderNetworkCreateArgs(inputs));
    }
    return { id: network, outs: { ...inputs, networkName: network } };
  },
  async diff(_id, olds, news) {
    const replaces = (["stack", "subnet", "internal"] as const).filter(
      (key) => (olds[key] ?? false) !== (news[key] ?? false),
    );
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async delete(id) {
    await runDockerIgnoringMissing(["network", "rm", id]);
  },
};

const localNetworkSpec = {
  type: "LocalNetwork",
  module: __filename,
  provider: "localNetworkProvider",
  outputs: ["networkName"],
};

/** The stack's own Docker bridge network, on which local hosts get fixed addresses. */
export class LocalNetwork extends DynamicResource {
  declare readonly networkName: pulumi.Output<string>;

  constructor(name: string, args: LocalNetworkInputs, opts?: pulumi.CustomResourceOptions) {
    super(localNetworkSpec, name, args, opts);
  }
}
