import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  Certificate,
  createDockerProvider,
  DockerEngine,
  resolveStackConfig,
  SshMachines,
} from "dockfleet";

/**
 * A program of your own on dockfleet's components: hosts you already have (the ssh driver),
 * Docker installed and its TLS API set up on each by DockerEngine, then your containers deployed
 * there with plain @pulumi/docker resources through the Provider dockfleet makes.
 */

// The hosts and engine settings use dockfleet's own config keys and validation.
const stackConfig = resolveStackConfig(pulumi.runtime.allConfig());
const sshPrivateKey = new pulumi.Config("dockfleet").requireSecret("sshPrivateKey");
const appConfig = new pulumi.Config("docker-app");
const image = appConfig.get("image") ?? "nginx:1.27-alpine";
const port = appConfig.getNumber("port") ?? 8080;

// One CA for the engines' server certificates and for this program's client certificate.
const ca = new Certificate("app-ca", { kind: "ca", commonName: "docker-app CA" });
const caPair = { certPem: ca.certPem, keyPem: ca.keyPem };
const client = new Certificate("app-client", {
  kind: "client",
  commonName: "docker-app",
  ca: caPair,
});

const { machines } = new SshMachines("app", {
  hosts: stackConfig.sshHosts,
  privateKey: sshPrivateKey,
});

export const apps = machines.map((machine) => {
  const engine = new DockerEngine(`${machine.name}-engine`, {
    machine,
    config: stackConfig.engine,
    ca: caPair,
  });
  const provider = createDockerProvider(`${machine.name}-docker`, {
    dockerHost: engine.dockerHost,
    caPem: ca.certPem,
    certPem: client.certPem,
    keyPem: client.keyPem,
  });
  const pulled = new docker.RemoteImage(
    `${machine.name}-image`,
    { name: image, keepLocally: true },
    { provider },
  );
  const container = new docker.Container(
    `${machine.name}-web`,
    {
      name: "web",
      image: pulled.imageId,
      ports: [{ internal: 80, external: port }],
      restart: "unless-stopped",
    },
    { provider },
  );
  return {
    host: machine.name,
    dockerHost: engine.dockerHost,
    container: container.name,
    url: pulumi.interpolate`http://${machine.publicAddress}:${port}`,
  };
});
