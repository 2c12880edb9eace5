import type * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { remoteStepProvider } from "../../../provision/dynamic/remote-step-provider";
import { probeFiles } from "../../../provision/dynamic/host-facts";
import { withHostPackageLock } from "../../../provision/dynamic/package-install";
import { shellQuote } from "../../../provision/ssh/shell";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import {
  runRemoteStep,
  runScript,
  runUndoStep,
  uploadFiles,
} from "../../../provision/dynamic/remote-step";
import {
  ETCD_TLS_FILES,
  NODE_EXPORTER_PASSWORD_FILE,
  PROMETHEUS_CONFIG_DIR,
  PROMETHEUS_CONTAINER_NAME,
  PROMETHEUS_STAGING_DIR,
} from "../plan";

interface PrometheusServerInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** components/monitoring/scripts/ensure-prometheus.sh */
  script: string;
  /** The script's parameters (renderPrometheusServerEnv). */
  env: Record<string, string>;
  prometheusYml: string;
  rulesYml: string;
  /** renderPrometheusWebConfig with PASSWORD_HASH_MARK: the script fills in the hash. */
  webYml: string;
  /** The web UI's password (a secret). */
  password: string;
  /** The password Prometheus scrapes the node exporters with (a secret). */
  nodeExporterPassword: string;
  /** etcd's CA and a client certificate and key, to scrape its members; "" without etcd. */
  etcdCaPem: string;
  etcdCertPem: string;
  etcdKeyPem: string;
}

type PrometheusServerOutputs = PrometheusServerInputs;

/** Every input but the host and connection is applied in place (the container recreated). */
const UPDATE_KEYS = [
  "script",
  "env",
  "prometheusYml",
  "rulesYml",
  "webYml",
  "password",
  "nodeExporterPassword",
  "etcdCaPem",
  "etcdCertPem",
  "etcdKeyPem",
] as const;

async function ensure(inputs: PrometheusServerInputs): Promise<void> {
  await runRemoteStep(inputs, "ensure prometheus", async (client, log) => {
    const at = (name: string) => `${PROMETHEUS_STAGING_DIR}/${name}`;
    const etcd =
      inputs.etcdCaPem === ""
        ? []
        : [
            { path: at(ETCD_TLS_FILES.ca), content: inputs.etcdCaPem, mode: 0o600 },
            { path: at(ETCD_TLS_FILES.cert), content: inputs.etcdCertPem, mode: 0o600 },
            { path: at(ETCD_TLS_FILES.key), content: inputs.etcdKeyPem, mode: 0o600 },
          ];
    await uploadFiles(client, PROMETHEUS_STAGING_DIR, [
      { path: at("prometheus.yml"), content: inputs.prometheusYml, mode: 0o600 },
      { path: at("rules.yml"), content: inputs.rulesYml, mode: 0o600 },
      { path: at("web.yml"), content: inputs.webYml, mode: 0o600 },
      { path: at("password"), content: inputs.password, mode: 0o600 },
      {
        path: at(NODE_EXPORTER_PASSWORD_FILE),
        content: inputs.nodeExporterPassword,
        mode: 0o600,
      },
      ...etcd,
    ]);
    const result = await runScript(client, inputs.script, inputs.env, log);
    log.info(result.changed === "1" ? "prometheus (re)started with the new files" : "unchanged");
  });
}

export const prometheusServerProvider = remoteStepProvider<
  PrometheusServerInputs,
  PrometheusServerOutputs
>({
  id: (inputs) => `${inputs.host}-prometheus`,
  updateKeys: UPDATE_KEYS,
  // ensure-prometheus.sh may install apache2-utils.
  apply: async (inputs) => {
    await withHostPackageLock(inputs, () => ensure(inputs));
    return inputs;
  },
  probe: () =>
    [
      probeFiles({
        "prometheus.yml": `${PROMETHEUS_CONFIG_DIR}/prometheus.yml`,
        "rules.yml": `${PROMETHEUS_CONFIG_DIR}/rules.yml`,
        "web.yml": `${PROMETHEUS_CONFIG_DIR}/web.yml`,
      }),
      `echo "prometheus=$(docker inspect --format '{{.State.Status}}' ${shellQuote(PROMETHEUS_CONTAINER_NAME)} 2>/dev/null || echo missing)"`,
    ].join("\n"),
  remove: async (props) => {
    await runUndoStep(props, "remove prometheus", (client, log) =>
      runScript(client, props.script, { ...props.env, REMOVE: "1" }, log),
    );
  },
});

export type PrometheusServerArgs = ResourceArgs<PrometheusServerInputs>;

const prometheusServerSpec = {
  type: "PrometheusServer",
  module: __filename,
  provider: "prometheusServerProvider",
  secrets: ["password", "nodeExporterPassword", "etcdKeyPem"],
};

/**
 * Prometheus on its host (components/monitoring/scripts/ensure-prometheus.sh): its files installed
 * and a container of the image from the private registry running them, on the private address.
 */
export class PrometheusServer extends DynamicResource {
  constructor(name: string, args: PrometheusServerArgs, opts?: pulumi.CustomResourceOptions) {
    super(prometheusServerSpec, name, args, opts);
  }
}
