import * as fs from "node:fs";
import { pendingOperations, planPendingRecovery } from "../components/stack/pending-operations";

/**
 * `tsx cli/pending-operations.ts STACK EXPORT.json`: what bin/up does about the operations a
 * killed `pulumi up` left in the state of STACK: prints `none`, `clear` or `ask` on stdout, and
 * what it found and what to do on stderr (bin/lib/pulumi.sh, recover_interrupted_up).
 */
const [stack, file] = process.argv.slice(2);
if (stack === undefined || file === undefined) {
  process.stderr.write("usage: tsx cli/pending-operations.ts STACK EXPORT.json\n");
  process.exit(2);
}
try {
  const plan = planPendingRecovery(
    pendingOperations(JSON.parse(fs.readFileSync(file, "utf8"))),
    stack,
  );
  if (plan.action !== "none") process.stderr.write(`dockfleet: ${plan.message}\n`);
  process.stdout.write(`${plan.action}\n`);
} catch (error) {
  process.stderr.write(
    `pending-operations: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}
