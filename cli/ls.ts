import type { Command } from "commander";
import { CliError } from "./cli-error";
import type { EngineProbe } from "./docker-api";
import { type HostState, type MachineState, readHostState } from "./host-state";
import type { CertificateOutput, HostOutput } from "../components/stack/outputs";
import { parseTimeout } from "./options";
import { defaultStackName, defaultWorkDir, readStackOutputs } from "./stack-outputs";

/** One row of `dockfleet ls`, also its JSON form. */
export interface HostStatus {
  name: string;
  driver: string;
  address: string;
  dockerHost: string;
  /** Running, Stopped, ... (docker-machine's names): a stopped host is not an error. */
  state: MachineState;
  reachable: boolean;
  dockerVersion: string;
  swarmRole: string | null;
  /** When the first of the host's certificates expires (ISO 8601); null in older outputs. */
  certificatesExpire: string | null;
  /** Each of the host's certificates: what uses it, its expiry and serial number. */
  certificates: CertificateOutput[];
  error: string | null;
}

/** Pure: the earliest expiry among certificates (ISO 8601), or null when there are none. */
export function earliestExpiry(certificates: CertificateOutput[]): string | null {
  const sorted = certificates.map((certificate) => certificate.notAfter).sort();
  return sorted[0] ?? null;
}

/**
 * Pure: an expiry as `ls` prints it: the UTC day, with the time when it is within two days of
 * `now` (short test certificates), and "expired" once past.
 */
export function formatExpiry(notAfter: string | null, now: Date): string {
  if (notAfter === null) return "-";
  const when = new Date(notAfter);
  if (Number.isNaN(when.getTime())) return notAfter;
  const soon = when.getTime() - now.getTime() < 2 * 24 * 60 * 60 * 1000;
  const text = soon
    ? `${when.toISOString().slice(0, 16).replace("T", " ")}Z`
    : notAfter.slice(0, 10);
  return when.getTime() <= now.getTime() ? `expired ${text}` : text;
}

/** Pure: the line under the table about the certificates every host shares (CA, client). */
export function renderSharedCertificates(certificates: CertificateOutput[], now: Date): string {
  return certificates
    .map((certificate) => `${certificate.use} expires ${formatExpiry(certificate.notAfter, now)}`)
    .join(", ");
}

/**
 * Pure: a host's row from its stack output, its state and what its engine answered (nothing when
 * the machine is off).
 */
export function hostStatus(
  host: HostOutput,
  state: Pick<HostState, "state" | "reachable" | "error">,
  probe: EngineProbe | undefined,
): HostStatus {
  return {
    name: host.name,
    driver: host.driver,
    address: host.address,
    dockerHost: host.dockerHost,
    state: state.state,
    reachable: state.reachable,
    // The live engine's version when it answers; the installed package's otherwise.
    dockerVersion: probe?.serverVersion ?? host.dockerVersion,
    swarmRole: probe?.swarmRole ?? null,
    certificatesExpire: earliestExpiry(host.certificates ?? []),
    certificates: host.certificates ?? [],
    error: state.error,
  };
}

/** Pure: the table `dockfleet ls` prints, columns padded, like `docker-machine ls`. */
export function renderHostTable(rows: HostStatus[], now = new Date()): string {
  const header = [
    "NAME",
    "DRIVER",
    "ADDRESS",
    "STATE",
    "REACHABLE",
    "DOCKER",
    "SWARM",
    "CERTS EXPIRE",
    "ERRORS",
  ];
  const cells = rows.map((row) => [
    row.name,
    row.driver,
    row.address,
    row.state,
    row.reachable ? "yes" : "no",
    row.dockerVersion,
    row.swarmRole ?? "-",
    formatExpiry(row.certificatesExpire, now),
    row.error ?? "",
  ]);
  const widths = header.map((_, column) =>
    Math.max(...[header, ...cells].map((line) => line[column].length)),
  );
  return [header, ...cells]
    .map((line) =>
      line
        .map((cell, column) => cell.padEnd(widths[column]))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}

export function registerLsCommand(program: Command): void {
  program
    .command("ls")
    .description(
      "list the stack's hosts: address, state, whether the Docker API answers, version, swarm role, " +
        "when the first of its certificates expires (all of them with --format json)",
    )
    .option("-s, --stack <stack>", "stack to read", defaultStackName())
    .option("--format <format>", "table or json", "table")
    .option("--json", "the same as --format json")
    .option("--timeout <ms>", "how long to wait for each Docker API", "3000")
    .action(async (options: { stack: string; format: string; json?: boolean; timeout: string }) => {
      if (options.format !== "table" && options.format !== "json") {
        throw new CliError(
          `--format ${JSON.stringify(options.format)} is not known: use table or json`,
          2,
        );
      }
      const timeoutMs = parseTimeout(options.timeout);
      const outputs = await readStackOutputs(options.stack, defaultWorkDir());
      // Hosts are independent: ask them all at once, so `ls` takes one timeout at most.
      const rows = await Promise.all(
        outputs.hosts.map(async (host) => {
          const { state, probe } = await readHostState(outputs, host, timeoutMs);
          return hostStatus(host, state, probe);
        }),
      );
      const shared = renderSharedCertificates(outputs.certificates ?? [], new Date());
      process.stdout.write(
        options.json || options.format === "json"
          ? `${JSON.stringify(rows, null, 2)}\n`
          : `${renderHostTable(rows)}\n${shared === "" ? "" : `\n${shared}\n`}`,
      );
    });
}
