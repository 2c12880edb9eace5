import { execFile } from "node:child_process";
import { LineCollector } from "../../../provision/ssh/channel";

/** This machine's engine when DOCKFLEET_MACHINE_DOCKER_HOST names no other (bin/lib/docker.sh's too). */
export const MACHINE_DOCKER_HOST = "unix:///var/run/docker.sock";

/**
 * Pure: the environment for dockfleet's own docker and skopeo commands on this machine (the
 * local driver's host containers, the app images). They go to this machine's engine,
 * DOCKFLEET_MACHINE_DOCKER_HOST if set, whatever DOCKER_HOST, DOCKER_CONTEXT and the TLS variables say:
 * `eval "$(dockfleet env host-1)"` points those at a host, where the host containers are not.
 */
export function machineDockerEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const {
    DOCKER_HOST: _host,
    DOCKER_CONTEXT: _context,
    DOCKER_TLS: _tls,
    DOCKER_TLS_VERIFY: _verify,
    DOCKER_CERT_PATH: _certs,
    ...rest
  } = env;
  return { ...rest, DOCKER_HOST: env.DOCKFLEET_MACHINE_DOCKER_HOST || MACHINE_DOCKER_HOST };
}

/**
 * Runs one of this machine's tools against this machine's engine (docker, skopeo's
 * docker-daemon:): fails naming the command, its exit code and the tail of its stderr.
 * `onLine` sees stdout line by line as it comes.
 */
export function runMachineTool(
  program: string,
  args: string[],
  options: { stdin?: string; onLine?: (line: string) => void } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      program,
      args,
      { maxBuffer: 64 * 1024 * 1024, env: machineDockerEnvironment(process.env) },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `${program} ${args.join(" ")} failed (exit ${error.code ?? "?"}):\n` +
                (stderr.trim().split("\n").slice(-10).join("\n") || error.message),
            ),
          );
        } else {
          resolve(stdout);
        }
      },
    );
    if (options.onLine !== undefined) {
      const lines = new LineCollector(options.onLine);
      // execFile sets stdout's encoding (utf8): its chunks are strings.
      child.stdout?.on("data", (chunk: string) => lines.push(chunk));
      child.stdout?.on("end", () => lines.flush());
    }
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  });
}

/** The local Docker CLI, for the local driver: run `docker ARGS`. */
export function runDocker(args: string[], options: { stdin?: string } = {}): Promise<string> {
  return runMachineTool("docker", args, options);
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
