// Reads `pulumi stack output --json --show-secrets` on stdin and writes the files an operator
// needs (SSH key, Docker client certificates) with mode 0600, then prints how to use them.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const dir = process.argv[2];
const outputs = JSON.parse(fs.readFileSync(0, "utf8"));
fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
const write = (name, content) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
};
write("id_ed25519", outputs.sshPrivateKey);
write("ca.pem", outputs.dockerTls.caPem);
write("cert.pem", outputs.dockerTls.certPem);
write("key.pem", outputs.dockerTls.keyPem);

const rows = outputs.hosts.map((host) => [host.name, host.address, host.dockerHost, host.dockerVersion]);
const widths = [0, 1, 2, 3].map((i) => Math.max(...[["HOST", "ADDRESS", "DOCKER_HOST", "DOCKER"], ...rows].map((r) => r[i].length)));
for (const row of [["HOST", "ADDRESS", "DOCKER_HOST", "DOCKER"], ...rows]) {
  console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
}
const first = outputs.hosts[0];
console.log(`
Use a host's Docker engine (TLS, client certificate):
  export DOCKER_HOST=${first.dockerHost} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${dir}
  docker info
Log in to a host:
  ${first.sshCommand}`);
