import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { planLocalHosts } from "../components/machines/local/run-args";
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
} from "../provision/pki";
import { generateSshKeyPair } from "../provision/ssh";
import { ROOT } from "../test/helpers/stack";
import { createBenchNetwork, startBenchHost } from "./hosts";

/**
 * The Ansible peer (bench/peers/ansible/): the same fresh host containers as the other peers,
 * brought to dockfleet's engine end state by ansible-playbook (Debian's ansible package). The
 * renderers and the recap parser are pure; runAnsiblePlaybook and prepareAnsibleHosts do the work.
 */

export const ANSIBLE_PEER_DIR = path.join(ROOT, "bench", "peers", "ansible");

export interface AnsibleHost {
  name: string;
  address: string;
  /** "ssh-ed25519 AAAA...", pinned in known_hosts. */
  hostKey: string;
}

/** Where the inventory points: files of one benchmark round, all under one private folder. */
export interface AnsibleFiles {
  privateKeyFile: string;
  knownHostsFile: string;
  /** tls/<host>/{ca,cert,key}.pem and tls/client/{cert,key}.pem. */
  tlsDir: string;
}

function plainWord(what: string, value: string): string {
  if (!/^[A-Za-z0-9._/:@-]+$/.test(value)) {
    throw new Error(`ansible inventory: ${what} ${JSON.stringify(value)} is not a plain word`);
  }
  return value;
}

/** The INI inventory: every host with its address, and the connection settings they share. */
export function renderAnsibleInventory(hosts: readonly AnsibleHost[], files: AnsibleFiles): string {
  return [
    "[all]",
    ...hosts.map(
      (host) =>
        `${plainWord("host name", host.name)} ansible_host=${plainWord("address", host.address)}`,
    ),
    "",
    "[all:vars]",
    "ansible_user=root",
    `ansible_ssh_private_key_file=${plainWord("key file", files.privateKeyFile)}`,
    "ansible_python_interpreter=/usr/bin/python3",
    `ansible_ssh_common_args='-o UserKnownHostsFile=${plainWord("known_hosts file", files.knownHostsFile)}'`,
    `tls_dir=${plainWord("TLS folder", files.tlsDir)}`,
    "",
  ].join("\n");
}

/** known_hosts lines pinning each host's key at its address. */
export function renderKnownHosts(hosts: readonly AnsibleHost[]): string {
  return hosts.map((host) => `${host.address} ${host.hostKey}\n`).join("");
}

export interface RecapCounts {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

/** The PLAY RECAP of ansible-playbook's default output, per host. */
export function parsePlayRecap(output: string): Record<string, RecapCounts> {
  const recapAt = output.lastIndexOf("PLAY RECAP");
  if (recapAt < 0) throw new Error("ansible-playbook printed no PLAY RECAP");
  const counts: Record<string, RecapCounts> = {};
  for (const line of output.slice(recapAt).split("\n").slice(1)) {
    const match = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    const fields = Object.fromEntries(
      [...match[2].matchAll(/(\w+)=(\d+)/g)].map(([, key, value]) => [key, Number(value)]),
    );
    counts[match[1]] = {
      ok: fields.ok ?? 0,
      changed: fields.changed ?? 0,
      unreachable: fields.unreachable ?? 0,
      failed: fields.failed ?? 0,
    };
  }
  return counts;
}

/**
 * Fails unless every host of `expected` is in the recap without failures, and, per `changes`,
 * none changed ("none") or each changed something ("every").
 */
export function checkRecap(
  recap: Record<string, RecapCounts>,
  expected: readonly string[],
  changes: "none" | "every",
): void {
  for (const name of expected) {
    const counts = recap[name];
    if (!counts) throw new Error(`${name} is missing from the PLAY RECAP`);
    if (counts.failed > 0 || counts.unreachable > 0) {
      throw new Error(`${name}: ${counts.failed} failed, ${counts.unreachable} unreachable`);
    }
    if (changes === "none" && counts.changed > 0) {
      throw new Error(`${name}: a run without changes changed ${counts.changed} task(s)`);
    }
    if (changes === "every" && counts.changed === 0) {
      throw new Error(`${name}: the run changed nothing`);
    }
  }
}

export interface AnsibleRound {
  /** The round's private folder (inventory, key, certificates, SSH control sockets). */
  dir: string;
  inventoryFile: string;
  hosts: AnsibleHost[];
}

function writePrivate(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, content, { mode: 0o600 });
}

/**
 * Creates the host containers (all at once), the key that logs in to them, and the certificates
 * the playbook is given: a CA, a server certificate per host and a client certificate.
 */
export async function prepareAnsibleHosts(args: {
  stack: string;
  hosts: number;
  subnet: string;
  image: string;
}): Promise<AnsibleRound> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-bench-ansible-"));
  const files: AnsibleFiles = {
    privateKeyFile: path.join(dir, "id_ed25519"),
    knownHostsFile: path.join(dir, "known_hosts"),
    tlsDir: path.join(dir, "tls"),
  };
  const key = generateSshKeyPair(`bench-${args.stack}`);
  writePrivate(files.privateKeyFile, key.privateKey);
  await createBenchNetwork(args.stack, args.subnet);
  const planned = planLocalHosts({ count: args.hosts, namePrefix: "host", subnet: args.subnet });
  const ca = await createCertificateAuthority({ commonName: `bench ${args.stack} CA` });
  const [hosts, client] = await Promise.all([
    Promise.all(
      planned.map(async (host): Promise<AnsibleHost> => {
        const hostKey = await startBenchHost({
          stack: args.stack,
          image: args.image,
          host,
          publicKey: key.publicKey,
        });
        const server = await issueServerCertificate(ca, {
          commonName: host.name,
          ipAddresses: [host.ipv4Address],
          dnsNames: [host.name],
        });
        const hostDir = path.join(files.tlsDir, host.name);
        writePrivate(path.join(hostDir, "ca.pem"), ca.certPem);
        writePrivate(path.join(hostDir, "cert.pem"), server.certPem);
        writePrivate(path.join(hostDir, "key.pem"), server.keyPem);
        return { name: host.name, address: host.ipv4Address, hostKey };
      }),
    ),
    issueClientCertificate(ca, { commonName: "bench-client" }),
  ]);
  writePrivate(path.join(files.tlsDir, "client", "cert.pem"), client.certPem);
  writePrivate(path.join(files.tlsDir, "client", "key.pem"), client.keyPem);
  writePrivate(files.knownHostsFile, renderKnownHosts(hosts));
  const inventoryFile = path.join(dir, "inventory.ini");
  writePrivate(inventoryFile, renderAnsibleInventory(hosts, files));
  return { dir, inventoryFile, hosts };
}

/**
 * ansible-playbook with forks = the number of hosts; returns the recap. The output goes to
 * <round folder>/<playbook>-<n>.log; a failure carries its tail.
 */
export async function runAnsiblePlaybook(
  round: AnsibleRound,
  playbook: "bootstrap.yml" | "engine.yml",
  extraVars: Record<string, unknown>,
  timeoutMs: number,
): Promise<Record<string, RecapCounts>> {
  const args = [
    "-i",
    round.inventoryFile,
    "--forks",
    String(round.hosts.length),
    ...(Object.keys(extraVars).length > 0 ? ["-e", JSON.stringify(extraVars)] : []),
    playbook,
  ];
  const env = {
    ...process.env,
    ANSIBLE_CONFIG: path.join(ANSIBLE_PEER_DIR, "ansible.cfg"),
    // The round's own control sockets: a master left from an earlier round's removed hosts
    // must not be reused.
    ANSIBLE_SSH_CONTROL_PATH_DIR: path.join(round.dir, "cp"),
    ANSIBLE_NOCOLOR: "1",
  };
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      "ansible-playbook",
      args,
      { cwd: ANSIBLE_PEER_DIR, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const log = `${stdout}\n${stderr}`;
        fs.writeFileSync(
          path.join(round.dir, `${playbook}-${fs.readdirSync(round.dir).length}.log`),
          log,
        );
        if (error) {
          reject(
            new Error(
              `ansible-playbook ${playbook} failed (${error.message.split("\n")[0]}):\n` +
                log.trim().split("\n").slice(-15).join("\n"),
            ),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });
  return parsePlayRecap(output);
}
