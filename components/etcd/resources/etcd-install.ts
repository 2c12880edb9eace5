import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";
import {
  type PackageInstallArgs,
  type PackageInstallInputs,
  packageInstallProvider,
} from "../../../provision/dynamic/package-install";

interface EtcdInstallOutputs extends PackageInstallInputs {
  version: string;
  etcdPath: string;
  etcdctlPath: string;
}

export const etcdInstallProvider = packageInstallProvider<EtcdInstallOutputs>({
  what: "etcd",
  actionVariable: "ETCD_ACTION",
  outputs: (inputs, result) => {
    if (result.etcd === undefined || result.etcdctl === undefined) {
      throw new Error(`${inputs.host}: install-etcd.sh did not report where etcd and etcdctl are`);
    }
    return {
      ...inputs,
      version: result.version ?? "unknown",
      etcdPath: result.etcd,
      etcdctlPath: result.etcdctl,
    };
  },
  probe: [
    `echo "etcd=$(command -v etcd || echo missing)"`,
    `echo "etcdctl=$(command -v etcdctl || echo missing)"`,
    `echo "version=$(etcd --version | head -n 1 || echo missing)"`,
  ].join("\n"),
});

export type EtcdInstallArgs = PackageInstallArgs;

const etcdInstallSpec = {
  type: "EtcdInstall",
  module: __filename,
  provider: "etcdInstallProvider",
  outputs: ["version", "etcdPath", "etcdctlPath"],
};

/** etcd and etcdctl on one host (install-etcd.sh over SSH), installed but not started. */
export class EtcdInstall extends DynamicResource {
  declare readonly version: pulumi.Output<string>;
  declare readonly etcdPath: pulumi.Output<string>;
  declare readonly etcdctlPath: pulumi.Output<string>;

  constructor(name: string, args: EtcdInstallArgs, opts?: pulumi.CustomResourceOptions) {
    super(etcdInstallSpec, name, args, opts);
  }
}
