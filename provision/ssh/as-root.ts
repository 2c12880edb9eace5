/**
 * How commands and files reach root on a host. A root login runs them as they are; any other
 * login user runs them through passwordless sudo, with root's environment ($HOME=/root: the
 * docker CLI keeps its credentials there). Pure: the client sends what these render.
 */
import { remoteDirname, shellQuote } from "./shell";

export const ROOT_USER = "root";

/** What sudo runs: never a prompt (-n), root's $HOME (-H), then the command in root's bash. */
const SUDO_PREFIX = "sudo -n -H -- ";
const ROOT_SHELL = "bash -c ";

/** Exit code of a file read when the file does not exist (sysexits' EX_NOINPUT). */
export const NO_SUCH_FILE_EXIT_CODE = 66;

export function logsInAsRoot(user: string): boolean {
  return user === ROOT_USER;
}

/**
 * The command as the login user's shell must run it to act as root: unchanged for root, else
 * `sudo -n -H -- bash -c '<command>'`. sudo passes stdin through, so values sent there (the env
 * of renderRemoteCommand) stay off every command line.
 */
export function renderAsRoot(command: string, user: string): string {
  return logsInAsRoot(user) ? command : `${SUDO_PREFIX}${ROOT_SHELL}${shellQuote(command)}`;
}

/**
 * Whether a process of a command's group only carries it to root: the sudo of renderAsRoot, or
 * the shell that sudo started (`parentArgs`: the process above it in the group).
 */
export function isRootWrapper(args: string, parentArgs: string): boolean {
  return (
    args.startsWith(SUDO_PREFIX) ||
    (parentArgs.startsWith(SUDO_PREFIX) && args.startsWith(ROOT_SHELL))
  );
}

/**
 * Writes stdin to `path` as root, atomically: the parent directory is created as `mkdir -p` does,
 * the data lands in `temporaryPath` (beside it) under umask 077, so it is never readable by
 * others before it gets `mode`, then is renamed over `path` (never into it, should `path` be a
 * directory). A failure removes the temporary file.
 */
export function renderWriteStdinToFile(path: string, temporaryPath: string, mode: number): string {
  const directory = shellQuote(remoteDirname(path));
  const temporary = shellQuote(temporaryPath);
  const octalMode = mode.toString(8).padStart(4, "0");
  const target = shellQuote(path);
  return (
    `mkdir -p -- ${directory} && umask 077 && { cat > ${temporary} && ` +
    `chmod ${octalMode} ${temporary} && mv -f -T -- ${temporary} ${target}; } || ` +
    `{ rm -f -- ${temporary}; exit 1; }`
  );
}

/**
 * Prints a file as base64 (the command's output is text), or exits NO_SUCH_FILE_EXIT_CODE when
 * there is no file at `path`.
 */
export function renderReadFileAsBase64(path: string): string {
  const quoted = shellQuote(path);
  return `if [ -e ${quoted} ]; then base64 < ${quoted}; else exit ${NO_SUCH_FILE_EXIT_CODE}; fi`;
}
