import * as pulumi from "@pulumi/pulumi";
import type { VirtualBoxDriverConfig } from "../config";
import {
  planHostOnlyNetworkCreate,
  planVirtualBoxVmCreate,
  planVirtualBoxVmDestroy,
  type PlannedVirtualBoxVm,
} from "./plan";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { createStepLog } from "../../../provision/dynamic/log";
import { findVBoxManage, runVirtualBoxSteps } from "./vboxmanage";

interface VirtualBoxVmInputs {
  vm: PlannedVirtualBoxVm;
  config: VirtualBoxDriverConfig;
  /** Put into root's authorized_keys through the cloud-init seed. */
  authorizedKey: string;
  logUrn: string;
}

type VirtualBoxVmOutputs = VirtualBoxVmInputs;

async function seconds<T>(log: ReturnType<typeof createStepLog>, body: () => Promise<T>) {
  const started = Date.now();
  const result = await body();
  log.info(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

export const virtualBoxVmProvider: pulumi.dynamic.ResourceProvider<
  VirtualBoxVmInputs,
  VirtualBoxVmOutputs
> = {
  async check(_olds, news) {
    // Refuses in preview already, before anything is planned against a missing VirtualBox.
    findVBoxManage();
    return { inputs: news };
  },
  async create(inputs) {
    const log = createStepLog(inputs.logUrn, `${inputs.vm.host}: create VM ${inputs.vm.vmName}`);
    // What an interrupted run left of this VM is removed first; a VM holds nothing dockfleet cannot rebuild.
    await runVirtualBoxSteps(
      planVirtualBoxVmDestroy(inputs.vm).map((step) =>
        step.kind === "vboxmanage" ? { ...step, ignoreFailure: true, retryForSeconds: 0 } : step,
      ),
      log,
    );
    await seconds(log, () =>
      runVirtualBoxSteps(
        planVirtualBoxVmCreate(inputs.vm, inputs.config, inputs.authorizedKey),
        log,
      ),
    );
    return { id: inputs.vm.vmName, outs: inputs };
  },
  async diff(_id, olds, news) {
    // Every input shapes the VM or its first boot: any change makes a new VM.
    const changed =
      JSON.stringify([olds.vm, olds.config, olds.authorizedKey]) !==
      JSON.stringify([news.vm, news.config, news.authorizedKey]);
    return { changes: changed, replaces: changed ? ["vm"] : [], deleteBeforeReplace: true };
  },
  async delete(_id, props) {
    const log = createStepLog(props.logUrn, `${props.vm.host}: destroy VM ${props.vm.vmName}`);
    await seconds(log, () => runVirtualBoxSteps(planVirtualBoxVmDestroy(props.vm), log));
  },
};

export type VirtualBoxVmArgs = ResourceArgs<VirtualBoxVmInputs>;

const virtualBoxVmSpec = {
  type: "VirtualBoxVm",
  module: __filename,
  provider: "virtualBoxVmProvider",
};

/** One VirtualBox VM made from the base image, started headless, answering SSH on its forward. */
export class VirtualBoxVm extends DynamicResource {
  declare readonly vm: pulumi.Output<PlannedVirtualBoxVm>;

  constructor(name: string, args: VirtualBoxVmArgs, opts?: pulumi.CustomResourceOptions) {
    super(virtualBoxVmSpec, name, args, opts);
  }
}

interface HostOnlyNetworkInputs {
  config: Pick<VirtualBoxDriverConfig, "hostOnlyAdapter" | "hostOnlyCidr">;
  logUrn: string;
}

export const virtualBoxHostOnlyNetworkProvider: pulumi.dynamic.ResourceProvider<
  HostOnlyNetworkInputs,
  HostOnlyNetworkInputs
> = {
  async check(_olds, news) {
    findVBoxManage();
    return { inputs: news };
  },
  async create(inputs) {
    const log = createStepLog(inputs.logUrn, `host-only network ${inputs.config.hostOnlyAdapter}`);
    await runVirtualBoxSteps(planHostOnlyNetworkCreate(inputs.config), log);
    return { id: inputs.config.hostOnlyAdapter, outs: inputs };
  },
  async diff(_id, olds, news) {
    const renamed = olds.config.hostOnlyAdapter !== news.config.hostOnlyAdapter;
    const changes = renamed || olds.config.hostOnlyCidr !== news.config.hostOnlyCidr;
    return { changes, replaces: renamed ? ["config"] : [] };
  },
  async update(_id, _olds, news) {
    const log = createStepLog(news.logUrn, `host-only network ${news.config.hostOnlyAdapter}`);
    await runVirtualBoxSteps(planHostOnlyNetworkCreate(news.config), log);
    return { outs: news };
  },
  // No delete: the interface may be shared with Vagrant, docker-machine or other stacks.
};

const virtualBoxHostOnlyNetworkSpec = {
  type: "VirtualBoxHostOnlyNetwork",
  module: __filename,
  provider: "virtualBoxHostOnlyNetworkProvider",
};

/** The host-only interface, addressed as the host's side of the VMs' private network. */
export class VirtualBoxHostOnlyNetwork extends DynamicResource {
  constructor(
    name: string,
    args: { config: HostOnlyNetworkInputs["config"]; logUrn: pulumi.Input<string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(virtualBoxHostOnlyNetworkSpec, name, args, opts);
  }
}
