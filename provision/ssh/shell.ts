/** Quotes a value for POSIX sh: single quotes, with embedded single quotes as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The command as sent to the host: env exported in front, so it works whatever sshd's AcceptEnv
 * says. Throws when an env name is not a shell variable name.
 */
export function renderRemoteCommand(command: string, env: Record<string, string> = {}): string {
  const names = Object.keys(env);
  if (names.length === 0) return command;
  const assignments = names.map((name) => {
    if (!ENV_NAME.test(name)) {
      throw new Error(
        `invalid environment variable name ${JSON.stringify(name)}: use letters, digits and _ only`,
      );
    }
    return `${name}=${shellQuote(env[name])}`;
  });
  return `export ${assignments.join(" ")}\n${command}`;
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
