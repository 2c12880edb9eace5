import * as fs from "node:fs";
import * as path from "node:path";
import { moduleInPackage } from "../../provision/dynamic/provider-shim";

/**
 * State written before 2026-12-03 holds dynamic providers that load their module by the absolute
 * path of the checkout that ran `up` (`moduleFile: "/work/x/provision/providers/..."`). Refresh
 * and destroy run the provider kept in state, so such a stack could not be refreshed or destroyed
 * from another folder, nor after the code moved. This rewrites each of them into today's loader
 * (module relative to the package root), found by the provider's export name.
 */
const ABSOLUTE_LOADER = /with\(\{ moduleFile: "([^"]+)", exportName: "([^"]+)"/;

interface ExportedResource {
  urn: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

interface StackExport {
  deployment?: { resources?: ExportedResource[] };
}

/**
 * Rewrites every old-style `__provider` of a `pulumi stack export` in place; returns how many.
 * `serialize` turns (module file, export name) into the text Pulumi would store today.
 */
export function migrateStackExport(
  exported: StackExport,
  locate: (exportName: string) => string,
  serialize: (moduleFile: string, exportName: string) => string,
): number {
  let migrated = 0;
  for (const resource of exported.deployment?.resources ?? []) {
    for (const props of [resource.inputs, resource.outputs]) {
      const provider = props?.__provider;
      if (props === undefined || typeof provider !== "string") continue;
      const match = ABSOLUTE_LOADER.exec(provider);
      if (match === null) continue;
      const exportName = match[2];
      props.__provider = serialize(locate(exportName), exportName);
      migrated++;
    }
  }
  return migrated;
}

/**
 * Finds the module that exports each provider today, among this package's components/ and
 * provision/ sources (or their compiled JavaScript, in a published package).
 */
export function providerLocator(): (exportName: string) => string {
  const root = path.resolve(__dirname, "..", "..");
  const byExport = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        visit(file);
      } else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
        const text = fs.readFileSync(file, "utf8");
        for (const match of text.matchAll(
          /export const (\w+Provider)\b|exports\.(\w+Provider) =/g,
        )) {
          byExport.set(match[1] ?? match[2], file);
        }
      }
    }
  };
  for (const top of ["components", "provision"]) visit(path.join(root, top));
  return (exportName) => {
    const file = byExport.get(exportName);
    if (file === undefined) {
      throw new Error(
        `no module of dockfleet at ${root} exports ${exportName}: this state was written by a ` +
          "dockfleet with a provider this one no longer has",
      );
    }
    moduleInPackage(file); // fails early when the file is outside the package
    return file;
  };
}
