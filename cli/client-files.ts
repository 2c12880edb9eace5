// Reads `pulumi stack output --json --show-secrets` on stdin and writes the files an operator
// needs (SSH key, Docker client certificates) with mode 0600, then prints how to use them.
import * as fs from "node:fs";
import * as path from "node:path";

interface StackOutputs {
  hosts: {
    name: string;
    address: string;
    dockerHost: string;
    dockerVersion: string;
    sshCommand: string;
  }[];
  dockerTls: { caPem: string; certPem: string; keyPem: string };
  sshPrivateKey: string;
  etcd?: { endpoints: string[] };
  swarmManager?: { name: string; address: string };
  privateRegistry?: { url: string; username: string };
  apps?: { counter?: string; wordpress?: string };
}

const dir = process.argv[2];
const outputs = JSON.parse(fs.readFileSync(0, "utf8")) as StackOutputs;
fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
const write = (name: string, content: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
};
write("id_ed25519", outputs.sshPrivateKey);
write("ca.pem", outputs.dockerTls.caPem);
write("cert.pem", outputs.dockerTls.certPem);
write("key.pem", outputs.dockerTls.keyPem);

const header = ["HOST", "ADDRESS", "DOCKER_HOST", "DOCKER"];
const rows = outputs.hosts.map((host) => [
  host.name,
  host.address,
  host.dockerHost,
  host.dockerVersion,
]);
const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i].length)));
for (const row of [header, ...rows]) {
  console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
}
const services: [string, string | undefined][] = [
  ["etcd endpoints", outputs.etcd?.endpoints.join(",")],
  [
    "swarm manager",
    outputs.swarmManager && `${outputs.swarmManager.name} (${outputs.swarmManager.address})`,
  ],
  [
    "private registry",
    outputs.privateRegistry &&
      `${outputs.privateRegistry.url} (user ${outputs.privateRegistry.username}; password: pulumi stack output privateRegistry --show-secrets)`,
  ],
  ["counter app", outputs.apps?.counter],
  ["WordPress", outputs.apps?.wordpress],
];
const shown = services.filter((service): service is [string, string] => service[1] !== undefined);
if (shown.length > 0) console.log("");
for (const [what, where] of shown) console.log(`${what.padEnd(17)} ${where}`);
const first = outputs.hosts[0];
console.log(`
Use a host's Docker engine (TLS, client certificate):
  export DOCKER_HOST=${first.dockerHost} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${dir}
  docker info
Log in to a host:
  ${first.sshCommand}`);
