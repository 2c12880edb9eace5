import * as fs from "node:fs";
import { migrateStackExport, providerLocator } from "../components/stack/state-migration";
import { providerModuleText } from "../provision/dynamic/provider-shim";

/**
 * `tsx cli/migrate-state.ts EXPORT.json`: rewrites, in place, the dynamic providers of a
 * `pulumi stack export` that still name a checkout's absolute path (state written before
 * 2026-12-03), and prints how many it rewrote. bin/lib/pulumi.sh imports the result back.
 */
function main(file: string): void {
  const exported = JSON.parse(fs.readFileSync(file, "utf8"));
  const count = migrateStackExport(exported, providerLocator(), providerModuleText);
  if (count > 0) fs.writeFileSync(file, JSON.stringify(exported, null, 2), { mode: 0o600 });
  process.stdout.write(`${count}\n`);
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write("usage: tsx cli/migrate-state.ts EXPORT.json\n");
  process.exit(2);
}
try {
  main(file);
} catch (error: unknown) {
  process.stderr.write(
    `migrate-state: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}
