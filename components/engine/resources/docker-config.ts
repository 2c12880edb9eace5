import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { remoteStepProvider } from "../../../provision/dynamic/remote-step-provider";
import {
  DOCKER_CONFIG_STAGING_DIR,
  INSTALLED_PATH_OF_STAGED_FILE,
  planDockerConfigUploads,
} from "../plan";
import { probeFiles } from "../../../provision/dynamic/host-facts";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  runRemoteStep,
  runScript,
  runUndoStep,
  uploadFiles,
} from "../../../provision/dynamic/remote-step";

interface DockerConfigInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** components/engine/scripts/apply-docker-config.sh */
  script: string;
  daemonJson: string;
  systemdDropIn: string;
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

type DockerConfigOutputs = DockerConfigInputs;

/** Inputs whose change is applied in place (daemon.json rewritten, Docker restarted). */
const UPDATE_KEYS = [
  "script",
  "daemonJson",
  "systemdDropIn",
  "caCertPem",
  "serverCertPem",
  "serverKeyPem",
] as const;

/** The installed files, whether Docker runs, and the addresses dockerd listens on (the TLS API). */
const DOCKER_CONFIG_PROBE = [
  probeFiles(INSTALLED_PATH_OF_STAGED_FILE),
  `echo "docker=$(systemctl is-active docker)"`,
  `echo "listening=$(ss -Hltnp | awk '/"dockerd"/ { print $4 }' | sort | paste -sd, -)"`,
].join("\n");

async function apply(inputs: DockerConfigInputs): Promise<void> {
  await runRemoteStep(inputs, "configure docker", async (client, log) => {
    const uploads = planDockerConfigUploads({
      daemonJson: inputs.daemonJson,
      dropIn: inputs.systemdDropIn,
      tls: {
        caPem: inputs.caCertPem,
        serverCertPem: inputs.serverCertPem,
        serverKeyPem: inputs.serverKeyPem,
      },
    });
    await uploadFiles(client, DOCKER_CONFIG_STAGING_DIR, uploads);
    const result = await runScript(client, inputs.script, {}, log);
    log.info(result.changed === "1" ? "configuration applied, docker restarted" : "unchanged");
  });
}

export const dockerConfigProvider = remoteStepProvider<DockerConfigInputs, DockerConfigOutputs>({
  id: (inputs) => `${inputs.host}-docker-config`,
  updateKeys: UPDATE_KEYS,
  apply: async (inputs) => {
    await apply(inputs);
    return inputs;
  },
  probe: () => DOCKER_CONFIG_PROBE,
  remove: async (props) => {
    await runUndoStep(props, "remove docker configuration", (client, log) =>
      runScript(client, props.script, { REMOVE: "1" }, log),
    );
  },
});

export type DockerConfigArgs = ResourceArgs<DockerConfigInputs>;

const dockerConfigSpec = {
  type: "DockerConfig",
  module: __filename,
  provider: "dockerConfigProvider",
  secrets: ["serverKeyPem"],
};

/**
 * Docker's configuration on one host: daemon.json, the systemd drop-in and the TLS material of the
 * remote API. A change rewrites the files and restarts Docker; nothing is reinstalled.
 */
export class DockerConfig extends DynamicResource {
  constructor(name: string, args: DockerConfigArgs, opts?: pulumi.CustomResourceOptions) {
    super(dockerConfigSpec, name, args, opts);
  }
}
