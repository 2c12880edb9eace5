import * as pulumi from "@pulumi/pulumi";
import { loadedProvider } from "./provider-shim";
import type { SshConnectionArgs } from "../ssh/types";
import { diffRemoteStep, runScript, runRemoteStep, runUndoStep } from "./remote-step";

interface EtcdInstallInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** provision/scripts/install-etcd.sh, sent over stdin. */
  script: string;
  /** The script's parameters (renderEtcdInstallEnv). */
  env: Record<string, string>;
  removeOnDestroy: boolean;
}

interface EtcdInstallOutputs extends EtcdInstallInputs {
  version: string;
  etcdPath: string;
  etcdctlPath: string;
}

/** Inputs whose change runs the script again (it installs only what differs) or is just kept. */
const UPDATE_KEYS = ["script", "env", "removeOnDestroy"] as const;

async function install(inputs: EtcdInstallInputs): Promise<EtcdInstallOutputs> {
  const result = await runRemoteStep(inputs, "install etcd", (client, log) =>
    runScript(client, inputs.script, inputs.env, log),
  );
  if (result.etcd === undefined || result.etcdctl === undefined) {
    throw new Error(`${inputs.host}: install-etcd.sh did not report where etcd and etcdctl are`);
  }
  return {
    ...inputs,
    version: result.version ?? "unknown",
    etcdPath: result.etcd,
    etcdctlPath: result.etcdctl,
  };
}

export const etcdInstallProvider: pulumi.dynamic.ResourceProvider<
  EtcdInstallInputs,
  EtcdInstallOutputs
> = {
  async create(inputs) {
    return { id: `${inputs.host}-etcd-install`, outs: await install(inputs) };
  },
  async diff(_id, olds, news) {
    return diffRemoteStep(olds, news, UPDATE_KEYS);
  },
  async update(_id, _olds, news) {
    // The script is idempotent: what is installed already is left alone.
    return { outs: await install(news) };
  },
  async delete(_id, props) {
    if (!props.removeOnDestroy) return;
    await runUndoStep(props, "remove etcd", (client, log) =>
      runScript(client, props.script, { ...props.env, ETCD_ACTION: "remove" }, log),
    );
  },
};

export interface EtcdInstallArgs {
  host: string;
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  script: string;
  env: Record<string, string>;
  removeOnDestroy: boolean;
}

/** etcd and etcdctl on one host (install-etcd.sh over SSH), installed but not started. */
export class EtcdInstall extends pulumi.dynamic.Resource {
  declare readonly version: pulumi.Output<string>;
  declare readonly etcdPath: pulumi.Output<string>;
  declare readonly etcdctlPath: pulumi.Output<string>;

  constructor(name: string, args: EtcdInstallArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      loadedProvider(__filename, "etcdInstallProvider"),
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        version: undefined,
        etcdPath: undefined,
        etcdctlPath: undefined,
      },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "dockfleet",
      "EtcdInstall",
    );
  }
}
