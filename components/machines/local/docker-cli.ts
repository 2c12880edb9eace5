import { execFile } from "node:child_process";

/** The local Docker CLI, for the local driver: run `docker ARGS`, fail with the command and stderr. */
export function runDocker(args: string[], options: { stdin?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "docker",
      args,
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              [
                `docker ${args.join(" ")}`,
                `failed: ${stderr.trim().split("\n").slice(-10).join("\n") || error.message}`,
              ].join("\n"),
            ),
          );
        } else {
          resolve(stdout);
        }
      },
    );
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  });
}

/** `docker ARGS` that may fail because the object is already gone; returns false then. */
export async function runDockerIgnoringMissing(args: string[]): Promise<boolean> {
  try {
    await runDocker(args);
    return true;
  } catch (error) {
    if (/no such|not found/i.test((error as Error).message)) return false;
    throw error;
  }
}
