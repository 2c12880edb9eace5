import * as fs from "node:fs";
import * as path from "node:path";

/**
 * dockfleet's own folder: the checkout, or node_modules/dockfleet in a consumer's project. The CLI
 * runs from cli/ in a checkout and from dist/cli/ in the published package, so the folder is
 * found by its package.json, not by a fixed number of "..".
 */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      const { name } = JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: unknown };
      if (name === "dockfleet") return dir;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`dockfleet's package.json is not above ${from}`);
    }
  }
}
