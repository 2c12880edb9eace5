import * as fs from "node:fs";
import * as path from "node:path";

/** Creates DIR (and parents) readable only by the owner. */
export function ensurePrivateDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  return dir;
}

/**
 * Writes FILE with mode 0600 through a temporary file and a rename, so that a reader never sees
 * a half-written key and an existing file with looser permissions is replaced, not reused.
 */
export function writePrivateFile(file: string, content: string): string {
  ensurePrivateDir(path.dirname(file));
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, content, { mode: 0o600 });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, file);
  return file;
}
