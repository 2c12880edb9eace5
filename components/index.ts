// The library entry: `import { DockerHost, DockerEngine, SwarmCluster, ... } from "dockfleet"`.
// Re-exports only: importing dockfleet creates no resource and reads no config or environment.
export * from "./apps";
export * from "./engine";
export * from "./stack";
export * from "./etcd";
export * from "./machines";
export * from "./monitoring";
export * from "./registry";
export * from "./swarm";
// The PKI and key resources the components use, for programs that compose engines themselves.
export {
  Certificate,
  type CertificateArgs,
  type CertificateKind,
} from "../provision/pki/certificate";
export { SshKeyPair } from "../provision/ssh/key-pair";
// What every component and resolveStackConfig throw for bad config, and the helper they share.
export { ConfigError, type ConfigProblem, resolveConfig } from "../provision/config/errors";
