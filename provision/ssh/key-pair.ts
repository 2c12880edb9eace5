import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../dynamic/resource";
import { fingerprintSha256, generateSshKeyPair } from "./keys";

interface SshKeyPairInputs {
  comment: string;
}

interface SshKeyPairOutputs extends SshKeyPairInputs {
  publicKey: string;
  privateKey: string;
  fingerprint: string;
}

export const sshKeyPairProvider: pulumi.dynamic.ResourceProvider<
  SshKeyPairInputs,
  SshKeyPairOutputs
> = {
  async create(inputs) {
    const pair = generateSshKeyPair(inputs.comment);
    const fingerprint = fingerprintSha256(pair.publicKey);
    return { id: fingerprint, outs: { ...inputs, ...pair, fingerprint } };
  },
  async diff(_id, olds, news) {
    const changed = olds.comment !== news.comment;
    return { changes: changed, replaces: changed ? ["comment"] : [] };
  },
};

const sshKeyPairSpec = {
  type: "SshKeyPair",
  module: __filename,
  provider: "sshKeyPairProvider",
  secrets: ["privateKey"],
  outputs: ["publicKey", "privateKey", "fingerprint"],
};

/** An ed25519 key pair for one environment's hosts; the private key is a Pulumi secret. */
export class SshKeyPair extends DynamicResource {
  declare readonly publicKey: pulumi.Output<string>;
  declare readonly privateKey: pulumi.Output<string>;
  declare readonly fingerprint: pulumi.Output<string>;

  constructor(name: string, args: { comment: string }, opts?: pulumi.CustomResourceOptions) {
    super(sshKeyPairSpec, name, { comment: args.comment }, opts);
  }
}
