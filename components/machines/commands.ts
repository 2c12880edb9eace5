import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Running this machine's tools (VBoxManage, genisoimage, qemu-img, ip): found on PATH, errors with the tail of stderr. */

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function searchPath(
  names: string[],
  env: NodeJS.ProcessEnv,
): { found?: string; dirs: string[] } {
  const dirs = (env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "");
  if (process.platform === "win32" && env.VBOX_MSI_INSTALL_PATH)
    dirs.push(env.VBOX_MSI_INSTALL_PATH);
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return { found: candidate, dirs };
    }
  }
  return { dirs };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(binary: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(binary, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || error?.message || "") });
    });
  });
}

export function commandError(binary: string, args: string[], result: CommandResult): Error {
  const tail = result.stderr.trim().split("\n").slice(-10).join("\n");
  return new Error(
    `command failed: ${[path.basename(binary), ...args].join(" ")}\nexit code: ${result.code}\nstderr:\n${tail}`,
  );
}
