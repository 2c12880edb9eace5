import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";
import { remoteStepProvider } from "../../../provision/dynamic/remote-step-provider";
import { REGISTRY_STAGING_DIR } from "../plan";
import { probeFiles } from "../../../provision/dynamic/host-facts";
import { shellQuote } from "../../../provision/ssh/shell";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import { withHostPackageLock } from "../../../provision/dynamic/package-install";
import {
  runRemoteStep,
  runScript,
  runUndoStep,
  uploadFiles,
} from "../../../provision/dynamic/remote-step";

interface RegistryServerInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** components/registry/scripts/ensure-registry.sh */
  script: string;
  /** The script's parameters (renderRegistryServerEnv). */
  env: Record<string, string>;
  /** renderRegistryConfigYml's output (a secret when it holds upstream credentials). */
  configYml: string;
  /** renderRegistryServiceDropIn's output (runAs "service"). */
  serviceDropIn: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
  /** The htpasswd users: the operator's and one per host; none with authentication off. */
  logins: RegistryLogin[];
  removeDataOnDestroy: boolean;
}

/** One htpasswd user. */
export interface RegistryLogin {
  username: string;
  password: string;
}

type RegistryServerOutputs = RegistryServerInputs;

/** ensure-registry.sh's defaults for what its env does not set. */
const DEFAULT_CONFIG_DIR = "/etc/dockfleet/registry";
const DEFAULT_CONTAINER = "dockfleet-registry";

/**
 * Inputs applied in place: files rewritten, the registry restarted (only when they changed); a
 * new removeDataOnDestroy is only kept.
 */
const UPDATE_KEYS = [
  "script",
  "env",
  "configYml",
  "serviceDropIn",
  "caCertPem",
  "certPem",
  "keyPem",
  "logins",
  "removeDataOnDestroy",
] as const;

async function apply(inputs: RegistryServerInputs): Promise<void> {
  // ensure-registry.sh may install the docker-registry package.
  await withHostPackageLock(inputs, () => ensure(inputs));
}

async function ensure(inputs: RegistryServerInputs): Promise<void> {
  await runRemoteStep(inputs, "ensure registry", async (client, log) => {
    const at = (name: string) => `${REGISTRY_STAGING_DIR}/${name}`;
    await uploadFiles(client, REGISTRY_STAGING_DIR, [
      { path: at("config.yml"), content: inputs.configYml, mode: 0o600 },
      { path: at("dropin.conf"), content: inputs.serviceDropIn, mode: 0o644 },
      { path: at("ca.pem"), content: inputs.caCertPem, mode: 0o644 },
      { path: at("cert.pem"), content: inputs.certPem, mode: 0o644 },
      { path: at("key.pem"), content: inputs.keyPem, mode: 0o600 },
      ...inputs.logins.map((login) => ({
        path: at(`logins/${login.username}`),
        content: login.password,
        mode: 0o600,
      })),
    ]);
    const result = await runScript(client, inputs.script, inputs.env, log);
    log.info(result.changed === "1" ? "registry (re)started with the new files" : "unchanged");
  });
}

export const registryServerProvider = remoteStepProvider<
  RegistryServerInputs,
  RegistryServerOutputs
>({
  id: (inputs) => `${inputs.host}-registry`,
  updateKeys: UPDATE_KEYS,
  apply: async (inputs) => {
    await apply(inputs);
    return inputs;
  },
  probe: (outs) => {
    const dir = outs.env.CONFIG_DIR ?? DEFAULT_CONFIG_DIR;
    const running =
      outs.env.RUN_AS === "container"
        ? `docker inspect --format '{{.State.Status}}' ${shellQuote(outs.env.CONTAINER_NAME ?? DEFAULT_CONTAINER)}`
        : "systemctl is-active docker-registry.service";
    return [
      probeFiles({
        "config.yml": `${dir}/config.yml`,
        cert: `${dir}/tls/cert.pem`,
        key: `${dir}/tls/key.pem`,
        htpasswd: `${dir}/htpasswd`,
      }),
      `echo "registry=$(${running})"`,
    ].join("\n");
  },
  remove: async (props) => {
    await withHostPackageLock(props, () =>
      runUndoStep(props, "remove registry", (client, log) =>
        runScript(
          client,
          props.script,
          { ...props.env, REMOVE: "1", REMOVE_DATA: props.removeDataOnDestroy ? "1" : "0" },
          log,
        ),
      ),
    );
  },
});

export interface RegistryServerArgs {
  host: string;
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  script: string;
  env: pulumi.Input<Record<string, string>>;
  configYml: pulumi.Input<string>;
  /** Whether configYml holds upstream credentials (then it is kept as a secret). */
  configYmlIsSecret: boolean;
  serviceDropIn: string;
  caCertPem: pulumi.Input<string>;
  certPem: pulumi.Input<string>;
  keyPem: pulumi.Input<string>;
  /** The htpasswd users; none with authentication off. */
  logins: pulumi.Input<RegistryLogin[]>;
  removeDataOnDestroy: boolean;
}

const registryServerSpec = {
  type: "RegistryServer",
  module: __filename,
  provider: "registryServerProvider",
  secrets: ["keyPem", "logins"],
};

/**
 * The registry process on its host (components/registry/scripts/ensure-registry.sh): config.yml, TLS
 * material and htpasswd installed, Debian's docker-registry service or a container running them.
 */
export class RegistryServer extends DynamicResource {
  constructor(name: string, args: RegistryServerArgs, opts?: pulumi.CustomResourceOptions) {
    const { configYmlIsSecret, ...inputs } = args;
    super(
      {
        ...registryServerSpec,
        secrets: [...registryServerSpec.secrets, ...(configYmlIsSecret ? ["configYml"] : [])],
      },
      name,
      inputs,
      opts,
    );
  }
}
