import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { CliError } from "./cli-error";

/** One host as the program's `hosts` output lists it (index.ts). */
export interface HostOutput {
  name: string;
  driver: string;
  address: string;
  privateAddress: string;
  /** tcp://<address>:<port> of the TLS-protected Docker API. */
  dockerHost: string;
  dockerVersion: string;
  sshCommand?: string;
  /** SSH login; absent in stacks last brought up before the CLI existed. */
  sshUser?: string;
  sshPort?: number;
  /** The host's pinned public key, "ssh-ed25519 AAAA...". */
  hostKey?: string;
}

/** The Docker client's TLS material (the same for every host of a stack). */
export interface DockerTlsOutput {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface StackOutputs {
  stack: string;
  hosts: HostOutput[];
  dockerTls?: DockerTlsOutput;
  sshPrivateKey?: string;
}

/** Where the CLI finds the Pulumi project: DOCKFLEET_WORK_DIR, or the checkout it runs from. */
export function defaultWorkDir(): string {
  return process.env.DOCKFLEET_WORK_DIR ?? path.resolve(__dirname, "..", "..");
}

/** The stack to read when -s is not given: DOCKFLEET_STACK, else "local" (as bin/up). */
export function defaultStackName(): string {
  return process.env.DOCKFLEET_STACK ?? "local";
}

/**
 * Reads a stack's outputs through the Automation API (secrets in clear: the CLI writes them to
 * private files). Fails with the stacks that do exist when the name is unknown, and with how to
 * fix it when the stack has no hosts yet.
 */
export async function readStackOutputs(stackName: string, workDir: string): Promise<StackOutputs> {
  let stack;
  try {
    stack = await LocalWorkspace.selectStack({ stackName, workDir });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (!/no stack named|not found|does not exist/i.test(reason)) {
      throw new CliError(`cannot open stack "${stackName}" in ${workDir}:\n${lastLines(reason)}`);
    }
    const known = await listStackNames(workDir);
    throw new CliError(
      `no stack named "${stackName}" in ${process.env.PULUMI_BACKEND_URL ?? "the Pulumi backend"}` +
        ` (stacks: ${known.length > 0 ? known.join(", ") : "none"}); ` +
        `choose one with -s <stack>, or create it with \`bin/up ${stackName}\``,
    );
  }
  const outputs = await stack.outputs();
  const hosts = outputs.hosts?.value as HostOutput[] | undefined;
  if (!Array.isArray(hosts) || hosts.length === 0) {
    throw new CliError(
      `stack "${stackName}" has no hosts in its outputs: bring it up with \`bin/up ${stackName}\``,
    );
  }
  return {
    stack: stackName,
    hosts,
    dockerTls: outputs.dockerTls?.value as DockerTlsOutput | undefined,
    sshPrivateKey: outputs.sshPrivateKey?.value as string | undefined,
  };
}

async function listStackNames(workDir: string): Promise<string[]> {
  try {
    const workspace = await LocalWorkspace.create({ workDir });
    return (await workspace.listStacks()).map((summary) => summary.name).sort();
  } catch {
    return [];
  }
}

function lastLines(text: string, count = 5): string {
  return text.trim().split("\n").slice(-count).join("\n");
}

/** The named host of a stack, or an error listing the stack's hosts. */
export function findHost(outputs: StackOutputs, hostName: string): HostOutput {
  const host = outputs.hosts.find((candidate) => candidate.name === hostName);
  if (host === undefined) {
    throw new CliError(
      `no host named "${hostName}" in stack "${outputs.stack}" ` +
        `(hosts: ${outputs.hosts.map((candidate) => candidate.name).join(", ")})`,
    );
  }
  return host;
}

/** The stack's Docker TLS material, or an error saying how to get it. */
export function requireDockerTls(outputs: StackOutputs): DockerTlsOutput {
  const tls = outputs.dockerTls;
  if (tls === undefined || !tls.caPem || !tls.certPem || !tls.keyPem) {
    throw new CliError(
      `stack "${outputs.stack}" has no dockerTls output (caPem, certPem, keyPem): ` +
        `run \`bin/up ${outputs.stack}\` with this version of dockfleet`,
    );
  }
  return tls;
}

/** What `ssh` needs for a host, or an error naming the missing output. */
export function requireSshLogin(
  outputs: StackOutputs,
  host: HostOutput,
): { user: string; port: number; hostKey: string; privateKey: string } {
  const missing = (["sshUser", "sshPort", "hostKey"] as const).filter(
    (field) => host[field] === undefined || host[field] === "",
  );
  if (missing.length > 0 || !outputs.sshPrivateKey) {
    const fields = [...missing, ...(outputs.sshPrivateKey ? [] : ["sshPrivateKey"])];
    throw new CliError(
      `stack "${outputs.stack}" lacks ${fields.join(", ")} for host "${host.name}" in its outputs: ` +
        `run \`bin/up ${outputs.stack}\` again to add them`,
    );
  }
  return {
    user: host.sshUser as string,
    port: host.sshPort as number,
    hostKey: host.hostKey as string,
    privateKey: outputs.sshPrivateKey as string,
  };
}
