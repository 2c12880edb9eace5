/**
 * Progress from inside the dynamic-provider process into Pulumi's own output.
 *
 * Dynamic providers get no engine connection from the SDK, but the plugin process is started
 * with the engine's address as its first argument, and the engine's Log RPC accepts a URN: so a
 * long remote step (a package install) shows its output under the resource while it runs, and
 * one line with its duration when it ends. Outside a Pulumi run (unit tests) lines go to stderr.
 */

export interface StepLog {
  /** A lasting line (shown in the update's diagnostics). */
  info(message: string): void;
  /** A passing line: shown while the step runs, dropped from the final summary. */
  progress(message: string): void;
  warn(message: string): void;
}

interface EngineLogClient {
  log(request: unknown, callback: (error: Error | null) => void): void;
}

const CLIENT_KEY = Symbol.for("dockfleet.engineLogClient");

function engineClient(): EngineLogClient | undefined {
  const cache = globalThis as { [CLIENT_KEY]?: EngineLogClient | null };
  if (cache[CLIENT_KEY] !== undefined) return cache[CLIENT_KEY] ?? undefined;
  const address = process.argv[2];
  if (address === undefined || !/^[\w.-]+:\d+$/.test(address)) {
    cache[CLIENT_KEY] = null;
    return undefined;
  }
  // Loaded lazily: only the provider process needs them, and through @pulumi/pulumi's own copy.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const grpc = require("@grpc/grpc-js");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engineGrpc = require("@pulumi/pulumi/proto/engine_grpc_pb");
  const client = new engineGrpc.EngineClient(
    address,
    grpc.credentials.createInsecure(),
  ) as EngineLogClient;
  cache[CLIENT_KEY] = client;
  return client;
}

type Severity = "info" | "warn";

/**
 * Sends a line to the engine after the one before it has arrived (`after`), so that a step's lines
 * keep their order: calls sent at once may reach the display in any order, which turns a counter
 * backwards ("layers 2/2", then "layers 1/2"). Returns when this one has arrived.
 */
function send(
  after: Promise<void>,
  urn: string,
  severity: Severity,
  message: string,
  ephemeral: boolean,
): Promise<void> {
  const client = engineClient();
  if (client === undefined) {
    process.stderr.write(`${message}\n`);
    return after;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const engineProto = require("@pulumi/pulumi/proto/engine_pb");
  const request = new engineProto.LogRequest();
  request.setSeverity(
    severity === "warn" ? engineProto.LogSeverity.WARNING : engineProto.LogSeverity.INFO,
  );
  request.setMessage(message);
  request.setUrn(urn);
  request.setEphemeral(ephemeral);
  // Logging must never fail a step: a lost progress line is not an error.
  return after.then(
    () =>
      new Promise<void>((resolve) => {
        try {
          client.log(request, () => resolve());
        } catch {
          // A line the engine cannot take must not stop the lines after it.
          resolve();
        }
      }),
  );
}

/** A log for one resource; `urn` is the component the step belongs to ("" for none). */
export function createStepLog(urn: string, prefix: string): StepLog {
  let sent = Promise.resolve();
  const say = (severity: Severity, message: string, ephemeral: boolean) => {
    sent = send(sent, urn, severity, `${prefix}: ${message}`, ephemeral);
  };
  return {
    info: (message) => say("info", message, false),
    progress: (message) => say("info", message, true),
    warn: (message) => say("warn", message, false),
  };
}

/**
 * A component's URN for a child's `logUrn` input, carried without the component as a
 * dependency: depending on a component means waiting for all its children, the child included.
 */
export function logUrnOf(component: {
  urn: { apply<U>(f: (urn: string) => U): unknown };
}): Promise<string> {
  return new Promise((resolve) => component.urn.apply((urn) => resolve(urn)));
}
