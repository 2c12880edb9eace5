// The library entry: `import { DockerEngine, createDockerProvider, ... } from "dockfleet"`.
// Re-exports only: importing dockfleet creates no resource and reads no config or environment.
export * from "./engine";
export * from "./engine/docker-provider";
export * from "./environment";
export * from "./machines";
// The PKI and key resources the components use, for programs that compose engines themselves.
export {
  Certificate,
  type CertificateArgs,
  type CertificateKind,
} from "../provision/providers/certificate";
export { SshKeyPair } from "../provision/providers/ssh-key-pair";
