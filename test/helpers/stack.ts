import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, type Stack, type UpResult } from "@pulumi/pulumi/automation";
import { generateSshKeyPair } from "../../provision/ssh/keys";
import { removeByLabel, requireHostImage } from "./docker";

/**
 * Driving real dockfleet stacks from tests and the benchmark: the stack file, the Automation API
 * stack on the local backend that bin/test sets up, clean-up, and reading the backend's files.
 */

export const ROOT = path.resolve(__dirname, "..", "..");

/**
 * The program's outputs as read back (a host of `hosts`, all of them): declared once, with the
 * program, in components/stack/outputs.ts; parseOutputMap there checks and types an update's.
 */
export type { HostOutput, StackOutputs } from "../../components/stack/outputs";

export function stackFilePath(stackName: string): string {
  return path.join(ROOT, "stacks", `Pulumi.${stackName}.yaml`);
}

/**
 * Writes stacks/Pulumi.<stack>.yaml with `dockfleet:` keys (without the prefix). An encryption
 * salt the CLI added to the file is kept.
 */
export function writeStackConfig(stackName: string, config: Record<string, unknown>): void {
  const file = stackFilePath(stackName);
  const salt = fs.existsSync(file)
    ? /^encryptionsalt: .*$/m.exec(fs.readFileSync(file, "utf8"))?.[0]
    : undefined;
  const keys = Object.fromEntries(
    Object.entries(config).map(([key, value]) => [`dockfleet:${key}`, value]),
  );
  // JSON is YAML.
  fs.writeFileSync(file, `${salt ?? ""}\nconfig: ${JSON.stringify(keys)}\n`);
}

/** The stack through the Automation API, in the checkout (Pulumi.yaml, index.ts). */
export async function openStack(
  stackName: string,
  envVars: Record<string, string> = {},
): Promise<Stack> {
  requireHostImage();
  return LocalWorkspace.createOrSelectStack({ stackName, workDir: ROOT }, { envVars });
}

/**
 * Destroys what the stack made, removes it from the backend and deletes its stack file; whatever
 * of the local driver's a failed destroy left (labelled with the stack) is removed too.
 */
export async function removeStackCompletely(stack: Stack | undefined, stackName: string) {
  await stack?.destroy().catch(() => undefined);
  await stack?.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
  await removeByLabel(stackName).catch(() => undefined);
  fs.rmSync(stackFilePath(stackName), { force: true });
}

/**
 * Times a test's steps: `timed(label, body)` runs body and records in `timings[label]` how long
 * it took, in seconds to one decimal, whether it succeeded or not.
 */
export function stepTimer() {
  const timings: Record<string, number> = {};
  const timed = async <T>(label: string, body: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await body();
    } finally {
      timings[label] = Math.round((Date.now() - started) / 100) / 10;
    }
  };
  return { timings, timed };
}

/**
 * `pulumi up` with Pulumi's output shown on this process's stdout; fails unless it succeeded.
 * `replace`: URNs to replace (`pulumi up --replace`).
 */
export async function upPrintingOutput(
  stack: Stack,
  options: { replace?: string[] } = {},
): Promise<UpResult> {
  const result = await stack.up({ ...options, onOutput: (line) => process.stdout.write(line) });
  assert.equal(result.summary.result, "succeeded");
  return result;
}

/** Resource change counts of an update's summary ({same: 12, update: 3}). */
export function changeCounts(result: { summary: { resourceChanges?: unknown } }) {
  return (result.summary.resourceChanges ?? {}) as Record<string, number>;
}

/** Fails unless the update left every resource as it was (only "same" among the changes). */
export function assertNothingChanged(result: { summary: { resourceChanges?: unknown } }): void {
  const counts = changeCounts(result);
  assert.deepEqual(Object.keys(counts), ["same"], JSON.stringify(counts));
}

/** Fails when the update created, deleted or replaced a resource (updates in place pass). */
export function assertNothingCreatedDeletedOrReplaced(counts: Record<string, number>): void {
  for (const kind of ["create", "delete", "replace"]) {
    assert.equal(counts[kind], undefined, `nothing is ${kind}d: ${JSON.stringify(counts)}`);
  }
}

/** Every file of the local backend (PULUMI_BACKEND_URL=file://...), concatenated. */
export function readBackendFiles(): string {
  const url = process.env.PULUMI_BACKEND_URL ?? "";
  assert.match(url, /^file:\/\//, "the tests run on the local file backend");
  const root = url.slice("file://".length);
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => fs.readFileSync(path.join(entry.parentPath, entry.name), "utf8"))
    .join("\n");
}

/** The marker Pulumi puts on a secret value in a state export. */
const SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d";

/**
 * Walks a state export made with --show-secrets (what `stack.exportStack()` returns) and returns
 * the string values found only inside secrets, and every other string value.
 */
export function collectStateStrings(deployment: unknown): {
  secretValues: Set<string>;
  plainValues: Set<string>;
} {
  const secretValues = new Set<string>();
  const plainValues = new Set<string>();
  const leaves = (value: unknown, into: Set<string>, inSecret: boolean): void => {
    if (typeof value === "string") {
      into.add(value);
    } else if (Array.isArray(value)) {
      for (const item of value) leaves(item, into, inSecret);
    } else if (value !== null && typeof value === "object") {
      const record = value as Record<string, unknown>;
      if (SECRET_SIGNATURE_KEY in record) {
        const plaintext = record.plaintext ?? record.value;
        const decoded = typeof plaintext === "string" ? safeJsonParse(plaintext) : plaintext;
        leaves(decoded, secretValues, true);
        return;
      }
      for (const item of Object.values(record)) leaves(item, into, inSecret);
    }
  };
  leaves(deployment, plainValues, false);
  // A public value that also sits inside a secret object (an address, a host key) is not secret.
  for (const value of plainValues) secretValues.delete(value);
  return { secretValues, plainValues };
}

/**
 * The outputs of the resource named NAME (the last part of its URN) in a state export, as the
 * export holds them (secret values as Pulumi's secret objects). Fails unless exactly one matches.
 */
export function resourceOutputs(deployment: unknown, name: string): Record<string, unknown> {
  const resources = ((deployment as { resources?: unknown[] }).resources ?? []) as {
    urn: string;
    outputs?: Record<string, unknown>;
  }[];
  const found = resources.filter((resource) => resource.urn.endsWith(`::${name}`));
  assert.equal(found.length, 1, `resources named ${name} in the state: ${found.length}`);
  return found[0].outputs ?? {};
}

/**
 * The value of a secret in a state export made with --show-secrets (JSON-decoded); fails when
 * the value is not marked secret there.
 */
export function secretPlaintext(value: unknown): unknown {
  assert.ok(
    value !== null && typeof value === "object" && SECRET_SIGNATURE_KEY in value,
    "the value is not a secret in the state",
  );
  const record = value as Record<string, unknown>;
  const plaintext = record.plaintext ?? record.value;
  return typeof plaintext === "string" ? safeJsonParse(plaintext) : plaintext;
}

function safeJsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The first body line of every ed25519 OpenSSH private key (the format's header,
 * "openssh-key-v1"...): the same in anyone's key, so finding it says nothing about this stack's.
 */
const OPENSSH_KEY_HEADER_LINE = generateSshKeyPair("").privateKey.split("\n")[1];

/**
 * What to search the backend's files for to find a secret in plain text: each long line of a
 * multi-line value (PEM bodies; JSON escaping joins lines with "\n") but the format's fixed
 * header, or the value itself.
 */
export function secretNeedles(secret: string): string[] {
  const lines = secret.split("\n").map((line) => line.trim());
  if (lines.length > 1) {
    return lines.filter(
      (line) => line.length >= 20 && !line.startsWith("-----") && line !== OPENSSH_KEY_HEADER_LINE,
    );
  }
  return secret.length >= 8 ? [secret] : [];
}
