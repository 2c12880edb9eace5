import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { remoteStepProvider } from "../../../provision/dynamic/remote-step-provider";
import { DOCKER_ETCD_CLIENT_PATHS } from "../plan";
import { probeFiles } from "../../../provision/dynamic/host-facts";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import { runRemoteStep, runUndoStep, uploadFiles } from "../../../provision/dynamic/remote-step";

interface EtcdDockerClientInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

const DIRECTORY = DOCKER_ETCD_CLIENT_PATHS.caPath.replace(/\/[^/]+$/, "");

/** Inputs whose change puts the files again. */
const UPDATE_KEYS = ["caCertPem", "certPem", "keyPem"] as const;

async function put(inputs: EtcdDockerClientInputs): Promise<void> {
  await runRemoteStep(inputs, "install etcd client certificate for docker", async (client) => {
    await uploadFiles(client, DIRECTORY, [
      { path: DOCKER_ETCD_CLIENT_PATHS.caPath, content: inputs.caCertPem, mode: 0o644 },
      { path: DOCKER_ETCD_CLIENT_PATHS.certPath, content: inputs.certPem, mode: 0o644 },
      { path: DOCKER_ETCD_CLIENT_PATHS.keyPath, content: inputs.keyPem, mode: 0o600 },
    ]);
  });
}

export const etcdDockerClientProvider = remoteStepProvider<
  EtcdDockerClientInputs,
  EtcdDockerClientInputs
>({
  id: (inputs) => `${inputs.host}-etcd-docker-client`,
  updateKeys: UPDATE_KEYS,
  apply: async (inputs) => {
    await put(inputs);
    return inputs;
  },
  probe: () => probeFiles(DOCKER_ETCD_CLIENT_PATHS),
  remove: async (props) => {
    await runUndoStep(props, "remove etcd client certificate for docker", (client) =>
      client.execOrThrow(`rm -rf ${DIRECTORY}`),
    );
  },
});

export type EtcdDockerClientArgs = ResourceArgs<EtcdDockerClientInputs>;

const etcdDockerClientSpec = {
  type: "EtcdDockerClient",
  module: __filename,
  provider: "etcdDockerClientProvider",
  secrets: ["keyPem"],
};

/** The etcd client certificate Docker's cluster store uses, in /etc/docker/etcd on one host. */
export class EtcdDockerClient extends DynamicResource {
  constructor(name: string, args: EtcdDockerClientArgs, opts?: pulumi.CustomResourceOptions) {
    super(etcdDockerClientSpec, name, args, opts);
  }
}
