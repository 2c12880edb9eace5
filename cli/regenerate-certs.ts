import type { Command } from "commander";
import { runBinUp } from "./bin-up";
import { CliError } from "./cli-error";
import { type CommonOptions, printResult, withStackOptions } from "./options";
import { defaultWorkDir, selectNamedStack } from "./stack-outputs";

/** A resource of a state export, as far as this command reads it. */
interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
}

/** dockfleet's Certificate resources register as `pulumi-nodejs:dynamic/dockfleet:Certificate`. */
const CERTIFICATE_TYPE = /:Certificate$/;

/**
 * Pure: the URNs of the certificates to issue again, from a state export. With a host: the
 * certificates of that host's services (its Docker API, its etcd member, a registry on it). Without:
 * every server and client certificate of the stack. Never the CA: a new CA changes every
 * certificate and every client's files (see README "Certificates").
 */
export function certificateUrns(deployment: unknown, host?: string): string[] {
  const resources = ((deployment as { resources?: StateResource[] }).resources ?? []).filter(
    (resource) => CERTIFICATE_TYPE.test(resource.type),
  );
  return resources
    .filter((resource) =>
      host === undefined
        ? resource.inputs?.kind !== "ca"
        : resource.inputs?.host === host && resource.inputs.kind !== "ca",
    )
    .map((resource) => resource.urn);
}

/** Pure: the hosts the stack's certificates name (for the error when the host is unknown). */
export function certificateHosts(deployment: unknown): string[] {
  const resources = (deployment as { resources?: StateResource[] }).resources ?? [];
  const hosts = resources
    .filter((resource) => CERTIFICATE_TYPE.test(resource.type))
    .map((resource) => resource.inputs?.host)
    .filter((name): name is string => typeof name === "string");
  return [...new Set(hosts)].sort();
}

/** Pure: bin/up's arguments that issue these certificates again, and the rest of the stack as usual. */
export function regenerateArgs(urns: string[]): string[] {
  return urns.flatMap((urn) => ["--replace", urn]);
}

export function registerRegenerateCertsCommand(program: Command): void {
  const command = program
    .command("regenerate-certs")
    .argument("[host]", "the host whose certificates to issue again (default: every host)")
    .summary("issue a host's certificates (or all but the CA) again now; only their users restart")
    .description(
      "issue certificates again now, like docker-machine regenerate-certs: with a host, that " +
        "host's Docker API, etcd member and registry certificates; without, every server and " +
        "client certificate (not the CA). Runs bin/up <stack> with `pulumi up --replace` for " +
        "them: only the services using them restart, and the client files are rewritten",
    );
  withStackOptions(command, "stack to change").action(
    async (host: string | undefined, options: CommonOptions) => {
      const stack = await selectNamedStack(options.stack, defaultWorkDir());
      const deployment = (await stack.exportStack()).deployment as unknown;
      const urns = certificateUrns(deployment, host);
      if (urns.length === 0) {
        const known = certificateHosts(deployment);
        throw new CliError(
          host === undefined
            ? `stack "${options.stack}" has no certificates: bring it up with \`bin/up ${options.stack}\``
            : `no certificates of a host named "${host}" in stack "${options.stack}" ` +
                `(hosts: ${known.length > 0 ? known.join(", ") : `none recorded; run \`bin/up ${options.stack}\` once with this dockfleet`})`,
        );
      }
      process.stderr.write(
        `dockfleet: issuing ${urns.length} certificate(s) again:\n${urns.map((urn) => `  ${urn}\n`).join("")}`,
      );
      await runBinUp(options.stack, regenerateArgs(urns), {}, options.json);
      printResult(options.json, { stack: options.stack, host: host ?? null, replaced: urns }, "");
    },
  );
}
