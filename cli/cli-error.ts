/**
 * An error the operator can act on: printed as `dockfleet: <message>` without a stack trace, and
 * the command exits with `exitCode`.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}
