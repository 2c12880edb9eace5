import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { remoteStepProvider } from "../../../provision/dynamic/remote-step-provider";
import { REGISTRY_TRUST_STAGING_DIR } from "../plan";
import { probeFiles } from "../../../provision/dynamic/host-facts";
import { shellQuote } from "../../../provision/ssh/shell";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  runRemoteStep,
  runScript,
  runUndoStep,
  uploadFiles,
} from "../../../provision/dynamic/remote-step";

interface RegistryTrustInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** components/registry/scripts/trust-registry.sh */
  script: string;
  /** "host:port" addresses of the registry: each gets certs.d/<address>/ca.crt. */
  addresses: string[];
  caCertPem: string;
  /** `docker login` to this address ("" for none). */
  loginAddress: string;
  username: string;
  /** "" without login. */
  password: string;
}

type RegistryTrustOutputs = RegistryTrustInputs;

/** Where trust-registry.sh puts each address's CA (dockerd reads it on every connection). */
const CERTS_D = "/etc/docker/certs.d";

/** Inputs whose change runs the script again: certs.d and the login brought up to date. */
const UPDATE_KEYS = [
  "script",
  "caCertPem",
  "addresses",
  "loginAddress",
  "username",
  "password",
] as const;

async function apply(inputs: RegistryTrustInputs, olds?: RegistryTrustInputs): Promise<void> {
  const stale = (olds?.addresses ?? []).filter((address) => !inputs.addresses.includes(address));
  const loggedOut =
    olds !== undefined && olds.loginAddress !== inputs.loginAddress ? olds.loginAddress : "";
  await runRemoteStep(inputs, "trust registry", async (client, log) => {
    const at = (name: string) => `${REGISTRY_TRUST_STAGING_DIR}/${name}`;
    await uploadFiles(client, REGISTRY_TRUST_STAGING_DIR, [
      { path: at("ca.crt"), content: inputs.caCertPem, mode: 0o644 },
      ...(inputs.loginAddress !== ""
        ? [{ path: at("password"), content: inputs.password, mode: 0o600 }]
        : []),
    ]);
    const result = await runScript(
      client,
      inputs.script,
      {
        ADDRESSES: inputs.addresses.join(" "),
        STALE_ADDRESSES: stale.join(" "),
        LOGIN_ADDRESS: inputs.loginAddress,
        LOGOUT_ADDRESS: loggedOut,
        REGISTRY_USERNAME: inputs.username,
        STAGING_DIR: REGISTRY_TRUST_STAGING_DIR,
      },
      log,
    );
    log.info(result.changed === "1" ? "registry trusted" : "unchanged");
  });
}

export const registryTrustProvider = remoteStepProvider<RegistryTrustInputs, RegistryTrustOutputs>({
  id: (inputs) => `${inputs.host}-registry-trust`,
  updateKeys: UPDATE_KEYS,
  apply: async (inputs, olds) => {
    await apply(inputs, olds);
    return inputs;
  },
  probe: (outs) =>
    [
      probeFiles(
        Object.fromEntries(
          outs.addresses.map((address) => [`ca:${address}`, `${CERTS_D}/${address}/ca.crt`]),
        ),
      ),
      ...(outs.loginAddress !== ""
        ? [
            `grep -qF ${shellQuote(`"${outs.loginAddress}"`)} "$HOME/.docker/config.json" && ` +
              `echo login=yes || echo login=no`,
          ]
        : []),
    ].join("\n"),
  remove: async (props) => {
    await runUndoStep(props, "untrust registry", (client, log) =>
      runScript(
        client,
        props.script,
        {
          ADDRESSES: props.addresses.join(" "),
          REMOVE: "1",
          STAGING_DIR: REGISTRY_TRUST_STAGING_DIR,
        },
        log,
      ),
    );
  },
});

export type RegistryTrustArgs = ResourceArgs<RegistryTrustInputs>;

const registryTrustSpec = {
  type: "RegistryTrust",
  module: __filename,
  provider: "registryTrustProvider",
  secrets: ["password"],
};

/**
 * One engine's trust in the private registry: its CA under /etc/docker/certs.d for every address
 * of the registry, and `docker login` for the host's CLI (password over stdin).
 */
export class RegistryTrust extends DynamicResource {
  constructor(name: string, args: RegistryTrustArgs, opts?: pulumi.CustomResourceOptions) {
    super(registryTrustSpec, name, args, opts);
  }
}
