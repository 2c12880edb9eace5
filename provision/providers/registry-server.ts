import * as pulumi from "@pulumi/pulumi";
import { loadedProvider } from "./provider-shim";
import { REGISTRY_STAGING_DIR } from "../render/registry";
import type { SshConnectionArgs } from "../ssh/types";
import { isAnotherHost, runRemoteStep, runScript } from "./remote-step";

interface RegistryServerInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** provision/scripts/ensure-registry.sh */
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
  /** The htpasswd user's password; empty with authentication off. */
  password: string;
  removeDataOnDestroy: boolean;
}

type RegistryServerOutputs = RegistryServerInputs;

/** Inputs applied in place: files rewritten, the registry restarted (only when they changed). */
const CONTENT_KEYS = [
  "script",
  "configYml",
  "serviceDropIn",
  "caCertPem",
  "certPem",
  "keyPem",
  "password",
] as const;

async function apply(inputs: RegistryServerInputs): Promise<void> {
  await runRemoteStep(inputs, "ensure registry", async (client, log) => {
    const at = (name: string) => `${REGISTRY_STAGING_DIR}/${name}`;
    await client.execOrThrow(`install -d -m 0700 ${REGISTRY_STAGING_DIR}`);
    await client.putContent(at("config.yml"), inputs.configYml, 0o600);
    await client.putContent(at("dropin.conf"), inputs.serviceDropIn, 0o644);
    await client.putContent(at("ca.pem"), inputs.caCertPem, 0o644);
    await client.putContent(at("cert.pem"), inputs.certPem, 0o644);
    await client.putContent(at("key.pem"), inputs.keyPem, 0o600);
    if (inputs.password !== "") await client.putContent(at("password"), inputs.password, 0o600);
    const result = await runScript(client, inputs.script, inputs.env, log);
    log.info(result.changed === "1" ? "registry (re)started with the new files" : "unchanged");
  });
}

export const registryServerProvider: pulumi.dynamic.ResourceProvider<
  RegistryServerInputs,
  RegistryServerOutputs
> = {
  async create(inputs) {
    await apply(inputs);
    return { id: `${inputs.host}-registry`, outs: inputs };
  },
  async diff(_id, olds, news) {
    const replaces = isAnotherHost(olds.connection, news.connection) ? ["connection"] : [];
    const changes =
      replaces.length > 0 ||
      CONTENT_KEYS.some((key) => olds[key] !== news[key]) ||
      JSON.stringify(olds.env) !== JSON.stringify(news.env) ||
      olds.removeDataOnDestroy !== news.removeDataOnDestroy ||
      olds.connection.privateKey !== news.connection.privateKey;
    return { changes, replaces };
  },
  async update(_id, _olds, news) {
    await apply(news);
    return { outs: news };
  },
  async delete(_id, props) {
    // Undo on a host that is still there; a host already gone has nothing left to undo.
    try {
      await runRemoteStep(
        props,
        "remove registry",
        (client, log) =>
          runScript(
            client,
            props.script,
            { ...props.env, REMOVE: "1", REMOVE_DATA: props.removeDataOnDestroy ? "1" : "0" },
            log,
          ),
        { connectDeadlineMs: 15_000 },
      );
    } catch (error) {
      if (!/could not connect/.test((error as Error).message)) throw error;
    }
  },
};

export interface RegistryServerArgs {
  host: string;
  connection: pulumi.Input<SshConnectionArgs>;
  logUrn: pulumi.Input<string>;
  script: string;
  env: Record<string, string>;
  configYml: pulumi.Input<string>;
  /** Whether configYml holds upstream credentials (then it is kept as a secret). */
  configYmlIsSecret: boolean;
  serviceDropIn: string;
  caCertPem: pulumi.Input<string>;
  certPem: pulumi.Input<string>;
  keyPem: pulumi.Input<string>;
  /** The htpasswd password; "" with authentication off. */
  password: pulumi.Input<string>;
  removeDataOnDestroy: boolean;
}

/**
 * The registry process on its host (provision/scripts/ensure-registry.sh): config.yml, TLS
 * material and htpasswd installed, Debian's docker-registry service or a container running them.
 */
export class RegistryServer extends pulumi.dynamic.Resource {
  constructor(name: string, args: RegistryServerArgs, opts?: pulumi.CustomResourceOptions) {
    const { configYmlIsSecret, ...inputs } = args;
    const secretOutputs = ["connection", "keyPem", "password"];
    if (configYmlIsSecret) secretOutputs.push("configYml");
    super(
      loadedProvider(__filename, "registryServerProvider"),
      name,
      {
        ...inputs,
        connection: pulumi.secret(args.connection),
        keyPem: pulumi.secret(args.keyPem),
        password: pulumi.secret(args.password),
        configYml: configYmlIsSecret ? pulumi.secret(args.configYml) : args.configYml,
      },
      { ...opts, additionalSecretOutputs: secretOutputs },
      "dockfleet",
      "RegistryServer",
    );
  }
}
