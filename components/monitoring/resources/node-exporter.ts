import type * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../../../provision/dynamic/resource";
import {
  type PackageInstallArgs,
  type PackageInstallInputs,
  packageInstallProvider,
} from "../../../provision/dynamic/package-install";

interface NodeExporterOutputs extends PackageInstallInputs {
  version: string;
}

export const nodeExporterProvider = packageInstallProvider<NodeExporterOutputs>({
  what: "node-exporter",
  actionVariable: "NODE_EXPORTER_ACTION",
  outputs: (inputs, result) => ({ ...inputs, version: result.version ?? "unknown" }),
  probe: [
    `echo "package=$(dpkg-query -W -f '\${Version}' prometheus-node-exporter 2>/dev/null || echo missing)"`,
    `echo "args=$(grep '^ARGS=' /etc/default/prometheus-node-exporter 2>/dev/null || echo missing)"`,
    `echo "service=$(systemctl is-active prometheus-node-exporter.service 2>/dev/null)"`,
  ].join("\n"),
});

export type NodeExporterArgs = PackageInstallArgs;

const nodeExporterSpec = {
  type: "NodeExporter",
  module: __filename,
  provider: "nodeExporterProvider",
  outputs: ["version"],
  // WEB_PASSWORD: what Prometheus scrapes with.
  secrets: ["env"],
};

/**
 * Debian's prometheus-node-exporter on one host, listening on its private address only, behind
 * basic auth (components/monitoring/scripts/ensure-node-exporter.sh over SSH).
 */
export class NodeExporter extends DynamicResource {
  declare readonly version: pulumi.Output<string>;

  constructor(name: string, args: NodeExporterArgs, opts?: pulumi.CustomResourceOptions) {
    super(nodeExporterSpec, name, args, opts);
  }
}
