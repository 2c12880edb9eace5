import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/**
 * The one declaration of a dockfleet stack's outputs: what the program (components/stack/
 * program.ts, exported by index.ts) must produce, and what its readers get back from
 * `pulumi stack output --json --show-secrets` or the Automation API (`stack.outputs()`,
 * `up().outputs`): the CLI (cli/), bin/up's client files and the tests.
 *
 * Only zod and types here: the CLI loads this file without loading Pulumi's providers.
 */

const text = z.string();
/** PEM text, keys and host keys: a value that cannot be empty. */
const material = z.string().min(1);

/** One certificate dockfleet issued: what uses it and until when it is valid. Not secret. */
export const CertificateOutputSchema = z.object({
  /**
   * A host's: "docker" (the API's server certificate), "etcd" (a member's client side), "etcd-peer",
   * "registry". The stack's: the CAs "docker-ca", "etcd-peer-ca", "etcd-client-ca", "registry-ca",
   * and the operator's "docker-client" and "etcd-client".
   */
  use: text,
  /** ISO 8601. */
  notAfter: text,
  /** Hex, as `openssl x509 -noout -serial` shows it (lower case). */
  serialNumber: text,
});

/** One host, as the `hosts` output lists it. */
export const HostOutputSchema = z.object({
  name: text,
  driver: text,
  /** Where clients reach the host (the public address for cloud hosts). */
  address: text,
  privateAddress: text,
  /** tcp://<address>:<port> of the TLS-protected Docker API. */
  dockerHost: text,
  /** The installed engine's version. */
  dockerVersion: text,
  /** SSH login. */
  sshUser: text,
  sshPort: z.int().min(1).max(65535),
  /** The host's pinned public key, "ssh-ed25519 AAAA...". */
  hostKey: material,
  /** `ssh -i .dockfleet/<stack>/id_ed25519 -p <port> <user>@<address>`, run from the checkout. */
  sshCommand: text,
  /** The certificates of the host's services (absent in outputs of a dockfleet before renewal). */
  certificates: z.array(CertificateOutputSchema).optional(),
});

/** The Docker client's TLS material: the same for every host of a stack (DOCKER_CERT_PATH files). */
export const DockerTlsOutputSchema = z.object({
  caPem: material,
  certPem: material,
  keyPem: material,
});

export const StackOutputsSchema = z.object({
  hosts: z.array(HostOutputSchema).min(1),
  dockerTls: DockerTlsOutputSchema,
  /** The private key that logs in to every host (a secret). */
  sshPrivateKey: material,
  /** The etcd cluster's client endpoints and credentials (with `etcd.enabled`). */
  etcd: z
    .object({
      endpoints: z.array(text),
      caPem: material,
      clientCertPem: material,
      clientKeyPem: material,
    })
    .optional(),
  /** The swarm's manager, for `docker -H` or `docker swarm join` (with `swarm.enabled`). */
  swarmManager: z
    .object({
      name: text,
      address: text,
      nodes: z.array(z.object({ name: text, role: text, availability: text, nodeId: text })),
    })
    .optional(),
  /** The private registry (with `registry.enabled`): `docker login <url>` with these. */
  privateRegistry: z.object({ url: text, username: text, password: text }).optional(),
  /** Prometheus's UI and API, basic auth with these (with `monitoring.enabled`). */
  monitoring: z.object({ url: text, host: text, username: text, password: text }).optional(),
  /** Where the sample apps answer (with `apps.enabled`). */
  apps: z.object({ counter: text.optional(), wordpress: text.optional() }),
  /** The certificates every host shares: the CA and the client certificates. */
  certificates: z.array(CertificateOutputSchema).optional(),
});

/** A stack's outputs as read back, secrets in clear. */
export type StackOutputs = z.infer<typeof StackOutputsSchema>;
export type HostOutput = z.infer<typeof HostOutputSchema>;
export type DockerTlsOutput = z.infer<typeof DockerTlsOutputSchema>;
export type CertificateOutput = z.infer<typeof CertificateOutputSchema>;

/** T where every value, at any depth, may also be a promise or a Pulumi Output of it. */
export type DeepInput<T> = pulumi.Input<
  T extends readonly (infer Item)[]
    ? DeepInput<Item>[]
    : T extends object
      ? { [K in keyof T]: DeepInput<T[K]> }
      : T
>;

/** What the program returns: once Pulumi has resolved it, exactly StackOutputs. */
export type StackOutputsInput = { [K in keyof StackOutputs]: DeepInput<StackOutputs[K]> };

/** Thrown when outputs do not have this shape; the message lists every problem, one per line. */
export class StackOutputsError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `the stack's outputs are not what dockfleet expects:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "StackOutputsError";
  }
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (key, part) =>
      typeof part === "number"
        ? `${key}[${part}]`
        : key === ""
          ? String(part)
          : `${key}.${String(part)}`,
    "",
  );
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, part) =>
      value !== null && typeof value === "object"
        ? (value as Record<PropertyKey, unknown>)[part]
        : undefined,
    input,
  );
}

/** One line per problem; values are never quoted back (most outputs here are secrets). */
function describeIssue(input: unknown, issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path) || "(the outputs)";
  if (issue.code === "invalid_type" && valueAt(input, issue.path) === undefined) {
    return `${where}: missing`;
  }
  return `${where}: ${issue.message}`;
}

/**
 * Checks outputs as `pulumi stack output --json --show-secrets` prints them (one object, output
 * name → value) and returns them typed; unknown outputs are dropped. Throws StackOutputsError
 * naming every missing or malformed field.
 */
export function parseStackOutputs(values: unknown): StackOutputs {
  const result = StackOutputsSchema.safeParse(values);
  if (!result.success) {
    throw new StackOutputsError(result.error.issues.map((issue) => describeIssue(values, issue)));
  }
  return result.data;
}

/** The Automation API's outputs (`stack.outputs()`, `up().outputs`: name → {value, secret}) as values. */
export function outputValues(outputs: Record<string, { value: unknown }>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([name, output]) => [name, output.value]));
}

/** parseStackOutputs for the Automation API's form: `parseOutputMap((await stack.up()).outputs)`. */
export function parseOutputMap(outputs: Record<string, { value: unknown }>): StackOutputs {
  return parseStackOutputs(outputValues(outputs));
}

/**
 * The client files of a stack (cli/client-files.ts writes them, mode 0600 in a 0700 folder):
 * in `<checkout>/.dockfleet/<stack>/` unless DOCKFLEET_HOME names another root. The program's
 * `sshCommand` points at the SSH key there, relative to the checkout.
 */
export const CLIENT_FILES_ROOT = ".dockfleet";
export const CLIENT_FILE_NAMES = {
  sshKey: "id_ed25519",
  knownHosts: "known_hosts",
  ca: "ca.pem",
  cert: "cert.pem",
  key: "key.pem",
} as const;
