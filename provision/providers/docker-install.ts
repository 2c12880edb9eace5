import * as pulumi from "@pulumi/pulumi";
import { loadedProvider } from "./provider-shim";
import type { SshConnectionArgs } from "../ssh/types";
import { diffRemoteStep, runRemoteStep, runScript } from "./remote-step";

interface DockerInstallInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** provision/scripts/install-docker.sh, sent over stdin. */
  script: string;
  /** The script's parameters (DOCKER_SOURCE, DOCKER_CE_MIRROR, ...). */
  env: Record<string, string>;
  removeOnDestroy: boolean;
}

interface DockerInstallOutputs extends DockerInstallInputs {
  version: string;
  /** Where the package put dockerd: the systemd drop-in starts it from there. */
  dockerdPath: string;
}

/** Inputs whose change runs the script again (it installs only what differs) or is just kept. */
const UPDATE_KEYS = ["script", "env", "removeOnDestroy"] as const;

async function install(inputs: DockerInstallInputs): Promise<DockerInstallOutputs> {
  const result = await runRemoteStep(inputs, "install docker", (client, log) =>
    runScript(client, inputs.script, inputs.env, log),
  );
  if (result.dockerd === undefined) {
    throw new Error(`${inputs.host}: install-docker.sh did not report where dockerd is`);
  }
  return { ...inputs, version: result.version ?? "unknown", dockerdPath: result.dockerd };
}

export const dockerInstallProvider: pulumi.dynamic.ResourceProvider<
  DockerInstallInputs,
  DockerInstallOutputs
> = {
  async create(inputs) {
    return { id: `${inputs.host}-docker-install`, outs: await install(inputs) };
  },
  async diff(_id, olds, news) {
    return diffRemoteStep(olds, news, UPDATE_KEYS);
  },
  async update(_id, _olds, news) {
    // The script is idempotent: with the same source and version it installs nothing.
    return { outs: await install(news) };
  },
  async delete(_id, props) {
    if (!props.removeOnDestroy) return;
    await runRemoteStep(props, "remove docker", (client, log) =>
      runScript(client, props.script, { ...props.env, DOCKER_ACTION: "remove" }, log),
    );
  },
};

export interface DockerInstallArgs {
  host: string;
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  script: string;
  env: Record<string, string>;
  removeOnDestroy: boolean;
}

/** Docker's packages on one host, installed by provision/scripts/install-docker.sh over SSH. */
export class DockerInstall extends pulumi.dynamic.Resource {
  declare readonly version: pulumi.Output<string>;
  declare readonly dockerdPath: pulumi.Output<string>;

  constructor(name: string, args: DockerInstallArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      loadedProvider(__filename, "dockerInstallProvider"),
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        version: undefined,
        dockerdPath: undefined,
      },
      { ...opts, additionalSecretOutputs: ["connection"] },
      "dockfleet",
      "DockerInstall",
    );
  }
}
