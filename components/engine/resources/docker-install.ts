import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";
import { rollingOverSwarm } from "./rolling-restart";
import {
  type PackageInstallArgs,
  type PackageInstallInputs,
  packageInstallProvider,
} from "../../../provision/dynamic/package-install";

interface DockerInstallOutputs extends PackageInstallInputs {
  version: string;
  /** Where the package put dockerd: the systemd drop-in starts it from there. */
  dockerdPath: string;
}

export const dockerInstallProvider = packageInstallProvider<DockerInstallOutputs>({
  what: "docker",
  actionVariable: "DOCKER_ACTION",
  outputs: (inputs, result) => {
    if (result.dockerd === undefined) {
      throw new Error(`${inputs.host}: install-docker.sh did not report where dockerd is`);
    }
    return { ...inputs, version: result.version ?? "unknown", dockerdPath: result.dockerd };
  },
  probe: [
    `echo "dockerd=$(command -v dockerd || echo missing)"`,
    `echo "version=$(dockerd --version || echo missing)"`,
  ].join("\n"),
  // The package restarts docker when it upgrades it: a swarm's hosts take turns.
  upgrade: {
    env: { DOCKER_UPGRADE: "1", DOCKER_START: "1" },
    wrap: (client, log, run) =>
      rollingOverSwarm(client, log, run, (result) => result.upgraded === "1"),
  },
});

export type DockerInstallArgs = PackageInstallArgs;

const dockerInstallSpec = {
  type: "DockerInstall",
  module: __filename,
  provider: "dockerInstallProvider",
  outputs: ["version", "dockerdPath"],
};

/** Docker's packages on one host, installed by components/engine/scripts/install-docker.sh over SSH. */
export class DockerInstall extends DynamicResource {
  declare readonly version: pulumi.Output<string>;
  declare readonly dockerdPath: pulumi.Output<string>;

  constructor(name: string, args: DockerInstallArgs, opts?: pulumi.CustomResourceOptions) {
    super(dockerInstallSpec, name, args, opts);
  }
}
