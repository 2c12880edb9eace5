/** Quotes a value for POSIX sh: single quotes, with embedded single quotes as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A command as sent to the host, and what goes on its stdin ahead of the caller's own. */
export interface RemoteCommand {
  command: string;
  stdinPrefix: string;
}

/**
 * The command as sent to the host, with env set whatever sshd's AcceptEnv says. The values travel
 * on stdin, one line the shell reads and evals before the command: the command line, which any
 * user on the host sees in `ps`, holds only the names. The shell's `read` takes no byte past that
 * line, so the command gets the rest of stdin as sent. Throws when an env name is not a shell
 * variable name.
 */
export function renderRemoteCommand(
  command: string,
  env: Record<string, string> = {},
): RemoteCommand {
  const names = Object.keys(env);
  if (names.length === 0) return { command, stdinPrefix: "" };
  const assignments = names.map((name) => {
    if (!ENV_NAME.test(name)) {
      throw new Error(
        `invalid environment variable name ${JSON.stringify(name)}: use letters, digits and _ only`,
      );
    }
    // One line: a newline in a value is spliced back in from DOCKFLEET_NL.
    return `${name}=${shellQuote(env[name]).replace(/\n/g, `'"$DOCKFLEET_NL"'`)}`;
  });
  return {
    command:
      "DOCKFLEET_NL='\n' && IFS= read -r DOCKFLEET_ENV && eval \"$DOCKFLEET_ENV\" && " +
      `unset DOCKFLEET_ENV DOCKFLEET_NL\n${command}`,
    stdinPrefix: `export ${assignments.join(" ")}\n`,
  };
}

/** The parent directory of a remote POSIX path ("." for a bare name). */
export function remoteDirname(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : trimmed.slice(0, slash);
}

export function remoteBasename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
