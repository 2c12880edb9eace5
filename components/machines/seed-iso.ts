import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { commandError, run, searchPath } from "./commands";

/**
 * The NoCloud seed as an ISO 9660 image labelled "cidata": cloud-init reads it on the virtualbox
 * driver's cloud images, the qemu driver's image reads it with its own first-boot unit.
 */

/** The tools that can write an ISO 9660 image with a volume label. */
const ISO_TOOLS = [
  { binary: "genisoimage", prefix: [] as string[] },
  { binary: "mkisofs", prefix: [] as string[] },
  { binary: "xorriso", prefix: ["-as", "mkisofs"] },
];

/** Writes `files` (name to content) into a seed ISO at `isoPath` (its folder made 0700). */
export async function writeSeedIso(isoPath: string, files: Record<string, string>): Promise<void> {
  const { found, dirs } = searchPath(
    ISO_TOOLS.map((tool) => tool.binary),
    process.env,
  );
  if (found === undefined) {
    throw new Error(
      `none of ${ISO_TOOLS.map((tool) => tool.binary).join(", ")} was found on PATH (${dirs.join(path.delimiter)}): ` +
        "the seed ISO needs one (Debian/Ubuntu: apt-get install genisoimage)",
    );
  }
  const tool = ISO_TOOLS.find((candidate) => path.basename(found) === candidate.binary)!;
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-seed-"));
  try {
    for (const [name, content] of Object.entries(files)) {
      fs.writeFileSync(path.join(staging, name), content, { mode: 0o600 });
    }
    fs.mkdirSync(path.dirname(isoPath), { recursive: true, mode: 0o700 });
    const args = [
      ...tool.prefix,
      "-output",
      isoPath,
      "-volid",
      "cidata",
      "-joliet",
      "-rock",
      ...Object.keys(files).map((name) => path.join(staging, name)),
    ];
    const result = await run(found, args);
    if (result.code !== 0) throw commandError(found, args, result);
    fs.chmodSync(isoPath, 0o600);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
