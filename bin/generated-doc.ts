import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Writes a generated doc, or with `--check` in the arguments fails (exit code 1) when the
 * committed file differs; `script` is the generator, named in the message that says what to run.
 */
export function writeOrCheckGeneratedDoc(
  file: string,
  generated: string,
  root: string,
  script: string,
): void {
  const relative = path.relative(root, file);
  if (process.argv.includes("--check")) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    if (current !== generated) {
      process.stderr.write(`${relative} is out of date: run npx tsx ${script}\n`);
      process.exitCode = 1;
    }
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, generated);
  process.stderr.write(`wrote ${relative}\n`);
}
