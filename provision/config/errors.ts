import type { z } from "zod";

/**
 * The one way dockfleet reports bad config, for the stack schema and every component alike: a
 * ConfigError lists each problem with the key as a stack file spells it, the value as written
 * (never a secret's) and what is allowed. resolveConfig applies a schema's defaults and checks and
 * throws one.
 */

/** Values never quoted back in an error: a key that names a secret, or a value under one. */
const SECRET_KEY_PATTERN = /password|privatekey|secret|token/i;

/** The text an error shows for a value nobody gave. */
const MISSING = "(missing)";

/** The text an error shows instead of a secret value. */
const SECRET = "[secret]";

/** The user-info part of URLs in a quoted value ("https://user:password@host"). */
const URL_CREDENTIALS = /(\/\/)[^/\s"@]+@/g;

/** One problem of a config: the key, the value as written and what is allowed. */
export interface ConfigProblem {
  /** The key as a stack file spells it: "dockfleet:hosts", "dockfleet:sshHosts[0].name". */
  key: string;
  /**
   * The value as quoted back: JSON, "(missing)", or "[secret]" for a key that names a secret.
   * Unset for a key that should not be there at all.
   */
  value?: string;
  /** What is allowed, or what is wrong with the value. */
  allowed: string;
}

/** Pure: one problem as the error's line shows it ("key = value: allowed"). */
export function formatConfigProblem(problem: ConfigProblem): string {
  return problem.value === undefined
    ? `${problem.key}: ${problem.allowed}`
    : `${problem.key} = ${problem.value}: ${problem.allowed}`;
}

/** Thrown for invalid config; the message lists every problem, one per line. */
export class ConfigError extends Error {
  /** Each problem as its line of the message shows it. */
  readonly problems: string[];

  constructor(
    /** What was invalid, as the message's first line names it: "stack config", "etcd config". */
    readonly subject: string,
    /** The problems, each with its key, value and what is allowed. */
    readonly details: readonly ConfigProblem[],
  ) {
    const problems = details.map(formatConfigProblem);
    super(`invalid ${subject}:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Pure: the key a path inside a config has, under `keyPrefix`: "dockfleet:" (a stack's namespace)
 * and ["sshHosts", 0, "name"] give "dockfleet:sshHosts[0].name"; "dockfleet:etcd" and
 * ["members"] give "dockfleet:etcd.members".
 */
export function formatConfigKey(keyPrefix: string, path: readonly PropertyKey[]): string {
  if (path.length === 0) return keyPrefix.replace(/:$/, "");
  return path.reduce<string>((key, part) => {
    if (typeof part === "number") return `${key}[${part}]`;
    return key === "" || key.endsWith(":") ? `${key}${String(part)}` : `${key}.${String(part)}`;
  }, keyPrefix);
}

/**
 * Pure: a value as an error quotes it back: JSON, "(missing)", or "[secret]" when its key names a
 * secret. Secrets inside a structured value are replaced by "[secret]" too.
 */
export function showConfigValue(key: string, value: unknown): string {
  if (value === undefined) return MISSING;
  if (SECRET_KEY_PATTERN.test(key)) return SECRET;
  let shown: string;
  try {
    shown =
      JSON.stringify(value, (name, inner: unknown) =>
        name !== "" && SECRET_KEY_PATTERN.test(name) ? SECRET : inner,
      ) ?? String(value);
  } catch {
    shown = String(value);
  }
  // A URL's credentials ("https://user:password@host") are a secret wherever they appear.
  return shown.replace(URL_CREDENTIALS, `$1${SECRET}@`);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, part) =>
      value !== null && typeof value === "object"
        ? (value as Record<PropertyKey, unknown>)[part]
        : undefined,
    input,
  );
}

/** Pure: the problems one zod issue stands for (one per key for unknown keys). */
export function describeConfigIssue(
  input: unknown,
  issue: z.core.$ZodIssue,
  keyPrefix: string,
): ConfigProblem[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((name) => ({
      key: formatConfigKey(keyPrefix, [...issue.path, name]),
      allowed: 'unknown key (check the spelling; see README "Stack config")',
    }));
  }
  const key = formatConfigKey(keyPrefix, issue.path);
  const value = valueAt(input, issue.path);
  const resolved: unknown = issue.code === "custom" ? issue.params?.resolved : undefined;
  let allowed = issue.message;
  if (issue.code === "invalid_value") {
    allowed = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  } else if (issue.code === "too_small" && typeof value === "number") {
    allowed = `must be at least ${String(issue.minimum)}`;
  } else if (issue.code === "too_big" && typeof value === "number") {
    allowed = `must be at most ${String(issue.maximum)}`;
  }
  // A key left out that a check spanning keys refuses: its default is what is wrong.
  const shown =
    value === undefined && resolved !== undefined
      ? `${showConfigValue(key, resolved)} (the default)`
      : showConfigValue(key, value);
  return [{ key, value: shown, allowed }];
}

/**
 * Validates `input` with `schema` and applies its defaults. Pure; on invalid input throws one
 * ConfigError listing every problem, each key under `keyPrefix` ("dockfleet:" for a whole stack's
 * namespace, "dockfleet:etcd" for one component's keys). An already resolved value resolves to an
 * equal one, so a component may resolve what the stack schema resolved before.
 */
export function resolveConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  keyPrefix: string,
  subject = "config",
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(
    subject,
    result.error.issues.flatMap((issue) => describeConfigIssue(input, issue, keyPrefix)),
  );
}

/**
 * A problem found by a check that spans keys (a plan that cannot be met), before it knows under
 * which key its config sits: the stack schema adds it under its section, a component standalone
 * throws it as a ConfigError (configError).
 */
export interface ConfigIssue {
  /** The path inside the checked config: ["managers"], ["hosts", 2]. */
  path: PropertyKey[];
  /** What is allowed, or what is wrong with the value. */
  message: string;
}

/**
 * Adds `issues` of a parsed config to a schema's refinement, each with the value it refuses, so
 * that a key left out is quoted with its default rather than as missing.
 */
export function addConfigIssues(
  ctx: z.core.$RefinementCtx,
  parsed: unknown,
  issues: readonly ConfigIssue[],
): void {
  for (const issue of issues) {
    ctx.addIssue({
      code: "custom",
      path: issue.path,
      message: issue.message,
      params: { resolved: valueAt(parsed, issue.path) },
    });
  }
}

/** Pure: the ConfigError for `issues` of `input`, keys under `keyPrefix` ("dockfleet:swarm"). */
export function configError(
  subject: string,
  keyPrefix: string,
  input: unknown,
  issues: readonly ConfigIssue[],
): ConfigError {
  return new ConfigError(
    subject,
    issues.map((issue) => {
      const key = formatConfigKey(keyPrefix, issue.path);
      return {
        key,
        value: showConfigValue(key, valueAt(input, issue.path)),
        allowed: issue.message,
      };
    }),
  );
}
