import * as pulumi from "@pulumi/pulumi";
import { loadedProvider } from "./provider-shim";
import { DOCKER_ETCD_CLIENT_PATHS } from "../render/etcd";
import type { SshConnectionArgs } from "../ssh/types";
import { isAnotherHost, runRemoteStep } from "./remote-step";

interface EtcdDockerClientInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

const DIRECTORY = DOCKER_ETCD_CLIENT_PATHS.caPath.replace(/\/[^/]+$/, "");

async function put(inputs: EtcdDockerClientInputs): Promise<void> {
  await runRemoteStep(inputs, "install etcd client certificate for docker", async (client) => {
    await client.execOrThrow(`install -d -m 0700 ${DIRECTORY}`);
    await client.putContent(DOCKER_ETCD_CLIENT_PATHS.caPath, inputs.caCertPem, 0o644);
    await client.putContent(DOCKER_ETCD_CLIENT_PATHS.certPath, inputs.certPem, 0o644);
    await client.putContent(DOCKER_ETCD_CLIENT_PATHS.keyPath, inputs.keyPem, 0o600);
  });
}

export const etcdDockerClientProvider: pulumi.dynamic.ResourceProvider<
  EtcdDockerClientInputs,
  EtcdDockerClientInputs
> = {
  async create(inputs) {
    await put(inputs);
    return { id: `${inputs.host}-etcd-docker-client`, outs: inputs };
  },
  async diff(_id, olds, news) {
    const replaces = isAnotherHost(olds.connection, news.connection) ? ["connection"] : [];
    const changes =
      replaces.length > 0 ||
      olds.connection.privateKey !== news.connection.privateKey ||
      olds.caCertPem !== news.caCertPem ||
      olds.certPem !== news.certPem ||
      olds.keyPem !== news.keyPem;
    return { changes, replaces };
  },
  async update(_id, _olds, news) {
    await put(news);
    return { outs: news };
  },
  async delete(_id, props) {
    try {
      await runRemoteStep(
        props,
        "remove etcd client certificate for docker",
        (client) => client.execOrThrow(`rm -rf ${DIRECTORY}`),
        { connectDeadlineMs: 15_000 },
      );
    } catch (error) {
      if (!/could not connect/.test((error as Error).message)) throw error;
    }
  },
};

export interface EtcdDockerClientArgs {
  host: string;
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  caCertPem: pulumi.Input<string>;
  certPem: pulumi.Input<string>;
  keyPem: pulumi.Input<string>;
}

/** The etcd client certificate Docker's cluster store uses, in /etc/docker/etcd on one host. */
export class EtcdDockerClient extends pulumi.dynamic.Resource {
  constructor(name: string, args: EtcdDockerClientArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      loadedProvider(__filename, "etcdDockerClientProvider"),
      name,
      {
        ...args,
        connection: pulumi.secret(args.connection),
        keyPem: pulumi.secret(args.keyPem),
      },
      { ...opts, additionalSecretOutputs: ["connection", "keyPem"] },
      "dockfleet",
      "EtcdDockerClient",
    );
  }
}
