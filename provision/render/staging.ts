import { DOCKER_DROP_IN_PATH } from "./systemd";

/** The folder the caller uploads to before running apply-docker-config.sh. */
export const DOCKER_CONFIG_STAGING_DIR = "/etc/docker/dockfleet.staged";

/** What apply-docker-config.sh installs, as rendered text. */
export interface DockerConfigFiles {
  /** renderDaemonJson's output. */
  daemonJson: string;
  /** renderDockerDropIn's output. */
  dropIn: string;
  /** TLS material, all three or none: the CA, and the host's server certificate and key. */
  tls?: { caPem: string; serverCertPem: string; serverKeyPem: string };
}

/** One file to upload over SFTP. */
export interface StagedUpload {
  path: string;
  content: string;
  /** File mode; the key is 0600 from the moment it lands. */
  mode: number;
  /** True for files holding a private key: keep them secret in state and out of logs. */
  secret: boolean;
}

/**
 * Plans the uploads into the staging folder, under the names apply-docker-config.sh reads
 * (INSTALLED_PATH_OF_STAGED_FILE says where each one ends up). Pure.
 */
export function planDockerConfigUploads(files: DockerConfigFiles): StagedUpload[] {
  const at = (name: string): string => `${DOCKER_CONFIG_STAGING_DIR}/${name}`;
  const uploads: StagedUpload[] = [
    { path: at("daemon.json"), content: files.daemonJson, mode: 0o644, secret: false },
    { path: at("dockfleet.conf"), content: files.dropIn, mode: 0o644, secret: false },
  ];
  if (files.tls) {
    uploads.push(
      { path: at("ca.pem"), content: files.tls.caPem, mode: 0o644, secret: false },
      { path: at("server-cert.pem"), content: files.tls.serverCertPem, mode: 0o644, secret: false },
      { path: at("server-key.pem"), content: files.tls.serverKeyPem, mode: 0o600, secret: true },
    );
  }
  return uploads;
}

/** Where apply-docker-config.sh puts each staged file. */
export const INSTALLED_PATH_OF_STAGED_FILE: Readonly<Record<string, string>> = Object.freeze({
  "daemon.json": "/etc/docker/daemon.json",
  "dockfleet.conf": DOCKER_DROP_IN_PATH,
  "ca.pem": "/etc/docker/tls/ca.pem",
  "server-cert.pem": "/etc/docker/tls/cert.pem",
  "server-key.pem": "/etc/docker/tls/key.pem",
});
