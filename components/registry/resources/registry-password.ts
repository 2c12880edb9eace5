import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";

interface RegistryPasswordInputs {
  /** Random bytes behind the password (base64url: 4 characters per 3 bytes). */
  bytes: number;
}

interface RegistryPasswordOutputs extends RegistryPasswordInputs {
  value: string;
}

export const registryPasswordProvider: pulumi.dynamic.ResourceProvider<
  RegistryPasswordInputs,
  RegistryPasswordOutputs
> = {
  async create(inputs) {
    const value = randomBytes(inputs.bytes).toString("base64url");
    return {
      id: `registry-password-${randomBytes(4).toString("hex")}`,
      outs: { ...inputs, value },
    };
  },
  async diff(_id, olds, news) {
    const replaces = olds.bytes !== news.bytes ? ["bytes"] : [];
    return { changes: replaces.length > 0, replaces };
  },
};

export interface RegistryPasswordArgs {
  /** @default 24 (a 32-character password) */
  bytes?: number;
}

const registryPasswordSpec = {
  type: "RegistryPassword",
  module: __filename,
  provider: "registryPasswordProvider",
  secrets: ["value"],
  outputs: ["value"],
};

/**
 * A generated registry password: made once, kept in state as a Pulumi secret, changed only when
 * the resource is replaced.
 */
export class RegistryPassword extends DynamicResource {
  declare readonly value: pulumi.Output<string>;

  constructor(name: string, args: RegistryPasswordArgs = {}, opts?: pulumi.CustomResourceOptions) {
    super(registryPasswordSpec, name, { bytes: args.bytes ?? 24 }, opts);
  }
}
