export * from "./types";
export * from "./errors";
export * from "./keys";
export { SshConnection, type SshClient } from "./client";
export type { SshConnectOptions } from "./connect";
export { getSshClient, closeAllSshClients, withSshRetry, type SshRetryOptions } from "./pool";
export { shellQuote, renderRemoteCommand } from "./shell";
