import { z } from "zod";

/**
 * How long a remote step may take in all (connecting, every command, every wait) before it fails
 * and what it runs on the host is killed. Two kinds: package installs (apt or dnf downloading and
 * unpacking, possibly behind a slow mirror or another install's lock) and everything else
 * (writing config, starting a service, joining a cluster). A step with a wait of its own (etcd's
 * health, a stack's convergence) adds that wait to its bound, so that its own, more precise,
 * error comes first.
 */

export type StepKind = "install" | "configure";

/** Seconds per kind of step. */
export type StepTimeouts = Record<StepKind, number>;

export const DEFAULT_STEP_TIMEOUTS: StepTimeouts = { install: 900, configure: 300 };

const seconds = (kind: string, fallback: number) =>
  z
    .int({ message: "must be a whole number of seconds, e.g. 600" })
    .min(5)
    .max(86_400)
    .default(fallback)
    .describe(`Seconds ${kind} may take in all, connecting and waiting included.`);

/** The stack key `dockfleet:stepTimeouts`. */
export const StepTimeoutsSchema = z
  .strictObject({
    install: seconds("a package install (Docker, etcd)", DEFAULT_STEP_TIMEOUTS.install),
    configure: seconds(
      "any other remote step (configuration, services, clusters)",
      DEFAULT_STEP_TIMEOUTS.configure,
    ),
  })
  .describe(
    "How long each remote step may take before it fails, naming the host, the step and what it " +
      "was waiting for; its processes on the host are killed.",
  );

/** Pure: a step's bound in ms; timeouts missing from old state fall back to the defaults. */
export function stepTimeoutMs(
  timeouts: Readonly<Partial<Record<string, number>>> | undefined,
  kind: StepKind,
  ownWaitMs = 0,
): number {
  return (timeouts?.[kind] ?? DEFAULT_STEP_TIMEOUTS[kind]) * 1000 + ownWaitMs;
}

/** What a step was doing when its time ran out. */
export interface StepActivity {
  /** The command or wait in progress ("apt-get install -y docker.io", "sftp put /etc/x"). */
  waitingFor?: string;
  /** The last line it printed, if any. */
  lastOutputLine?: string;
}

/** A remote step ran past its bound; its commands on the host were stopped. */
export class StepTimeoutError extends Error {
  constructor(
    readonly host: string,
    readonly step: string,
    readonly kind: StepKind,
    readonly timeoutMs: number,
    readonly activity: StepActivity,
    options?: { cause?: unknown },
  ) {
    super(renderStepTimeout(host, step, kind, timeoutMs, activity), options);
    this.name = "StepTimeoutError";
  }
}

/**
 * Pure: 'host-2: step "install docker" did not finish within 600 s; it was waiting for: apt-get
 * install docker.io (last output line: ...)', and what to do about it.
 */
export function renderStepTimeout(
  host: string,
  step: string,
  kind: StepKind,
  timeoutMs: number,
  activity: StepActivity,
): string {
  const waitingFor = activity.waitingFor ?? "nothing in particular (between commands)";
  const lastLine =
    activity.lastOutputLine === undefined ? "" : ` (last output line: ${activity.lastOutputLine})`;
  return (
    `${host}: step "${step}" did not finish within ${Math.round(timeoutMs / 1000)} s; ` +
    `it was waiting for: ${waitingFor}${lastLine}\n` +
    "A command it was running on the host was stopped (SIGTERM, then SIGKILL); the step is " +
    `safe to run again. If it needs longer, raise dockfleet:stepTimeouts.${kind}.`
  );
}
