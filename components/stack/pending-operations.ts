/**
 * What a killed `pulumi up` leaves in state: operations that were under way ("pending
 * operations": a create Pulumi started but never saw the end of). Pulumi does not know whether
 * the resource exists; dockfleet does for its own: every remote step is idempotent and the local
 * driver's host containers and network adopt or replace what an interrupted run left, so such a
 * create can be forgotten and run again. For anything else (a cloud instance, a VirtualBox VM)
 * the operator must look, and is told how. Pure: bin/up acts on the plan (cli/pending-operations.ts).
 */

export interface PendingOperation {
  /** "creating", "updating", "deleting", "reading", "importing". */
  type: string;
  urn: string;
  /** The resource's type token ("pulumi-nodejs:dynamic/dockfleet:DockerInstall"). */
  resourceType: string;
}

/** dockfleet's dynamic resources are `pulumi-nodejs:dynamic/dockfleet:<type>`. */
const DOCKFLEET_TYPE_PREFIX = "pulumi-nodejs:dynamic/dockfleet:";

/**
 * dockfleet resources whose interrupted create cannot just run again: a VM (or its network) may
 * exist under that name with nothing in state to find it by.
 */
export const NOT_RERUNNABLE_TYPES: readonly string[] = [
  "VirtualBoxVm",
  "VirtualBoxHostOnlyNetwork",
];

/** Pure: the pending operations of a `pulumi stack export` (version 3 deployment). */
export function pendingOperations(exported: unknown): PendingOperation[] {
  const deployment = (exported as { deployment?: { pending_operations?: unknown } }).deployment;
  const pending = deployment?.pending_operations;
  if (!Array.isArray(pending)) return [];
  return pending.map(
    (operation: { type?: string; resource?: { urn?: string; type?: string } }) => ({
      type: operation.type ?? "unknown",
      urn: operation.resource?.urn ?? "(no urn)",
      resourceType: operation.resource?.type ?? "(no type)",
    }),
  );
}

/** Pure: whether an interrupted operation on this resource can be forgotten and run again. */
export function isRerunnable(operation: PendingOperation): boolean {
  if (!operation.resourceType.startsWith(DOCKFLEET_TYPE_PREFIX)) return false;
  return !NOT_RERUNNABLE_TYPES.includes(operation.resourceType.slice(DOCKFLEET_TYPE_PREFIX.length));
}

export type RecoveryPlan =
  | { action: "none" }
  /** Clear them (`pulumi refresh --clear-pending-creates`) and go on: `up` runs them again. */
  | { action: "clear"; message: string }
  /** Stop: the operator checks these resources; `message` says how. */
  | { action: "ask"; message: string };

/** Pure: what bin/up does about the pending operations of `stack`. */
export function planPendingRecovery(
  operations: readonly PendingOperation[],
  stack: string,
): RecoveryPlan {
  if (operations.length === 0) return { action: "none" };
  const listed = operations.map((operation) => `  ${operation.type} ${operation.urn}`).join("\n");
  const unsure = operations.filter((operation) => !isRerunnable(operation));
  if (unsure.length === 0) {
    return {
      action: "clear",
      message:
        `an earlier \`pulumi up\` of stack ${stack} was killed while these were under way:\n` +
        `${listed}\n` +
        "each is a dockfleet step that is safe to run again: clearing them from the state " +
        `(pulumi refresh --stack ${stack} --clear-pending-creates --yes); this up runs them again`,
    };
  }
  const creates = unsure.filter((operation) => operation.type === "creating");
  return {
    action: "ask",
    message:
      `an earlier \`pulumi up\` of stack ${stack} was killed while these were under way:\n` +
      `${listed}\n` +
      `Pulumi cannot tell whether these exist now:\n` +
      unsure.map((operation) => `  ${operation.type} ${operation.urn}`).join("\n") +
      "\nCheck with the cloud's console or CLI (or VBoxManage list vms), then either:\n" +
      (creates.length > 0
        ? `  - it exists: pulumi refresh --stack ${stack} --import-pending-creates ` +
          `${creates.map((operation) => `'${operation.urn}' <its id>`).join(" ")}\n`
        : "") +
      `  - it does not (or you removed it): pulumi refresh --stack ${stack} --clear-pending-creates --yes\n` +
      `and run bin/up ${stack} again.`,
  };
}
