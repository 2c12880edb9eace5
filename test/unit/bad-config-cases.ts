import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Bad stack configurations and the exact error each gets from resolveStackConfig: one table for
 * test/unit/bad-config.test.ts and docs/bad-input.md (rendered by this module; run it to rewrite
 * the doc: `npx tsx test/unit/bad-config-cases.ts`).
 *
 * To add a row: append to BAD_CONFIG_CASES with the keys as they sit in a stack file (without the
 * `dockfleet:` prefix) and the problem lines the error lists, then run the command above.
 */

/** What kind of mistake a row shows; the doc groups rows by it. */
export type BadConfigKind =
  | "type"
  | "range"
  | "unknown key"
  | "format"
  | "URL"
  | "CIDR"
  | "conflict"
  | "duplicate"
  | "secret"
  | "reference"
  | "path"
  | "port";

export interface BadConfigCase {
  /** One line: what is wrong. */
  title: string;
  kind: BadConfigKind;
  /** `dockfleet:*` keys without the prefix, with the values a stack file would hold. */
  config: Record<string, unknown>;
  /**
   * The problem lines of the ConfigError, exactly, in order (without the leading "  - ").
   * Empty for a gap (the config is accepted although it should not be).
   */
  errors: string[];
  /** Also run through a real `pulumi preview` to prove nothing is created (a few rows). */
  preview?: boolean;
  /** Set when the config is accepted today: why it should be refused. Runs as a todo test. */
  gap?: string;
}

const mirrorPresets = "a preset (aliyun, tuna, ustc) or a URL";
const ETCD_SHA256_EXAMPLE = "4b5f6e1ad3b8c1c8e0f3a2a5d3f7b9c1e2d4f6a8b0c2e4f6a8b0c2e4f6a8b0c2";

export const BAD_CONFIG_CASES: readonly BadConfigCase[] = [
  {
    title: "host count as a word",
    kind: "type",
    config: { hosts: "three" },
    errors: ['dockfleet:hosts = "three": Invalid input: expected number, received string'],
    preview: true,
  },
  {
    title: "no hosts",
    kind: "range",
    config: { hosts: 0 },
    errors: ["dockfleet:hosts = 0: must be at least 1"],
  },
  {
    title: "too many hosts",
    kind: "range",
    config: { hosts: 21 },
    errors: ["dockfleet:hosts = 21: must be at most 20"],
  },
  {
    title: "a fractional host count",
    kind: "type",
    config: { hosts: 2.5 },
    errors: ["dockfleet:hosts = 2.5: Invalid input: expected int, received number"],
  },
  {
    title: "a driver that does not exist",
    kind: "range",
    config: { driver: "vagrant" },
    errors: [
      'dockfleet:driver = "vagrant": must be one of "local", "ssh", "aws", "aliyun", "virtualbox", "qemu"',
    ],
    preview: true,
  },
  {
    title: "a misspelt top-level key",
    kind: "unknown key",
    config: { hostz: 3 },
    errors: ['dockfleet:hostz: unknown key (check the spelling; see README "Stack config")'],
    preview: true,
  },
  {
    title: "a misspelt engine key",
    kind: "unknown key",
    config: { engine: { sorce: "distro" } },
    errors: ['dockfleet:engine.sorce: unknown key (check the spelling; see README "Stack config")'],
  },
  {
    title: "a name prefix with capitals and '_'",
    kind: "format",
    config: { namePrefix: "Host_1" },
    errors: [
      "dockfleet:namePrefix = \"Host_1\": must be a host name: 2-32 characters of a-z, 0-9 and '-', starting with a letter",
    ],
  },
  {
    title: "a subnet without a prefix length",
    kind: "CIDR",
    config: { local: { subnet: "172.30.10.0" } },
    errors: [
      'dockfleet:local.subnet = "172.30.10.0": must be an IPv4 CIDR with a prefix from /16 to /28, e.g. "172.30.10.0/24"',
    ],
    preview: true,
  },
  {
    title: "a subnet with an octet over 255",
    kind: "CIDR",
    config: { local: { subnet: "300.1.2.0/24" } },
    errors: [
      'dockfleet:local.subnet = "300.1.2.0/24": must be an IPv4 CIDR with a prefix from /16 to /28, e.g. "172.30.10.0/24"',
    ],
  },
  {
    title: "a subnet larger than /16",
    kind: "CIDR",
    config: { local: { subnet: "10.0.0.0/8" } },
    errors: [
      'dockfleet:local.subnet = "10.0.0.0/8": must be an IPv4 CIDR with a prefix from /16 to /28, e.g. "172.30.10.0/24"',
    ],
  },
  {
    title: "a local host image that is not built",
    kind: "range",
    config: { local: { image: "docker-ce" } },
    errors: ['dockfleet:local.image = "docker-ce": must be one of "base", "docker"'],
  },
  {
    title: "source mirror without a mirror URL",
    kind: "conflict",
    config: { engine: { source: "mirror" } },
    errors: [
      `dockfleet:engine.mirrorUrl = (missing): is required when engine.source is "mirror": ${mirrorPresets}`,
    ],
  },
  {
    title: "a mirror URL that is not http(s)",
    kind: "URL",
    config: { engine: { source: "mirror", mirrorUrl: "ftp://mirror.example.com/docker-ce" } },
    errors: [
      'dockfleet:engine.mirrorUrl = "ftp://mirror.example.com/docker-ce": must be an http(s) URL, e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "a registry mirror without a scheme",
    kind: "URL",
    config: { engine: { registryMirrors: ["mirror.example.com"] } },
    errors: [
      'dockfleet:engine.registryMirrors[0] = "mirror.example.com": must be an http(s) URL, e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "registry mirrors as one string instead of a list",
    kind: "type",
    config: { engine: { registryMirrors: "https://mirror.example.com" } },
    errors: [
      'dockfleet:engine.registryMirrors = "https://mirror.example.com": Invalid input: expected array, received string',
    ],
  },
  {
    title: "an insecure registry given as a URL",
    kind: "format",
    config: { engine: { insecureRegistries: ["http://10.0.0.5:5000"] } },
    errors: [
      'dockfleet:engine.insecureRegistries[0] = "http://10.0.0.5:5000": must be host[:port] or a CIDR, e.g. "10.0.0.5:5000", without a scheme',
    ],
  },
  {
    title: "a log size in the wrong unit",
    kind: "format",
    config: { engine: { logMaxSize: "10MB" } },
    errors: ['dockfleet:engine.logMaxSize = "10MB": must be a size like "10m"'],
  },
  {
    title: "keeping no log files",
    kind: "range",
    config: { engine: { logMaxFile: 0 } },
    errors: ["dockfleet:engine.logMaxFile = 0: must be at least 1"],
  },
  {
    title: "a TLS port out of range",
    kind: "range",
    config: { engine: { tlsPort: 70000 } },
    errors: ["dockfleet:engine.tlsPort = 70000: must be at most 65535"],
  },
  {
    title: "a storage driver Docker dropped",
    kind: "range",
    config: { engine: { storageDriver: "aufs" } },
    errors: [
      'dockfleet:engine.storageDriver = "aufs": must be one of "overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs"',
    ],
  },
  {
    title: "a daemon option that would open an unprotected API",
    kind: "conflict",
    config: { engine: { daemonOptions: { hosts: ["tcp://0.0.0.0:2375"] } } },
    errors: [
      'dockfleet:engine.daemonOptions.hosts = ["tcp://0.0.0.0:2375"]: is set by dockfleet from its own keys (engine.registryMirrors, engine.tlsPort, ...): use those',
    ],
    preview: true,
  },
  {
    title: "a boolean written as a word",
    kind: "type",
    config: { engine: { installRecommends: "yes" } },
    errors: [
      'dockfleet:engine.installRecommends = "yes": Invalid input: expected boolean, received string',
    ],
  },
  {
    title: "a package version with shell characters",
    kind: "format",
    config: { engine: { version: "20.10; rm -rf /" } },
    errors: ['dockfleet:engine.version = "20.10; rm -rf /": must be a package version string'],
  },
  {
    title: "the ssh driver without hosts",
    kind: "conflict",
    config: { driver: "ssh" },
    errors: ['dockfleet:sshHosts = (missing): must list at least one host when driver is "ssh"'],
  },
  {
    title: "the aws driver without its aws section",
    kind: "conflict",
    config: { driver: "aws" },
    errors: [
      'dockfleet:aws = (missing): is required when driver is "aws": see stacks/Pulumi.aws.yaml',
    ],
  },
  {
    title: "two ssh hosts with the same name",
    kind: "duplicate",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "10.0.0.1" },
        { name: "web-1", address: "10.0.0.2" },
      ],
    },
    errors: [
      'dockfleet:sshHosts[1].name = "web-1": is used by another host: host names must be unique',
    ],
  },
  {
    title: "an ssh port of 0",
    kind: "range",
    config: { driver: "ssh", sshHosts: [{ name: "web-1", address: "10.0.0.1", port: 0 }] },
    errors: ["dockfleet:sshHosts[0].port = 0: must be at least 1"],
  },
  {
    title: "a host key without its type",
    kind: "format",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "10.0.0.1", hostKey: "AAAAC3NzaC1lZDI1NTE5" }],
    },
    errors: [
      'dockfleet:sshHosts[0].hostKey = "AAAAC3NzaC1lZDI1NTE5": must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA..."',
    ],
  },
  {
    title: "a password where the private key goes (never quoted back)",
    kind: "secret",
    config: { sshPrivateKey: "hunter2" },
    errors: ["dockfleet:sshPrivateKey = [secret]: must be a PEM or OpenSSH private key"],
  },
  {
    title: "several mistakes at once: each is listed",
    kind: "range",
    config: { hosts: 0, driver: "docker-machine", engine: { tlsPort: 0 } },
    errors: [
      'dockfleet:driver = "docker-machine": must be one of "local", "ssh", "aws", "aliyun", "virtualbox", "qemu"',
      "dockfleet:hosts = 0: must be at least 1",
      "dockfleet:engine.tlsPort = 0: must be at least 1",
    ],
  },
  {
    title: "a mirror URL while the source is the distribution's package",
    kind: "conflict",
    config: { engine: { source: "distro", mirrorUrl: "aliyun" } },
    errors: [
      'dockfleet:engine.mirrorUrl = "aliyun": is used only with engine.source "mirror" (engine.source is "distro"): set both, or remove mirrorUrl',
    ],
  },
  {
    title: "more hosts than the subnet holds",
    kind: "conflict",
    config: { hosts: 10, local: { subnet: "172.30.10.0/28" } },
    errors: [
      'dockfleet:local.subnet = "172.30.10.0/28": subnet 172.30.10.0/28 holds 4 hosts from .10 on, not 10: choose a larger subnet (dockfleet:local.subnet)',
    ],
  },
  {
    title: "an etcd member that is not a host of the environment",
    kind: "reference",
    config: { etcd: { enabled: true, members: ["host-1", "host-9"] } },
    errors: [
      'dockfleet:etcd.members[1] = "host-9": must be a host of this environment (host-1, host-2, host-3)',
    ],
  },
  {
    title: "more etcd members than hosts",
    kind: "range",
    config: { hosts: 2, etcd: { enabled: true, members: 3 } },
    errors: ["dockfleet:etcd.members = 3: must be at most the number of hosts (2)"],
  },
  {
    title: "the sample apps without a swarm",
    kind: "conflict",
    config: { apps: { enabled: true, pushImages: false } },
    errors: ["dockfleet:apps.enabled = true: needs the swarm: set dockfleet:swarm.enabled to true"],
  },
  {
    title: "live-restore with the swarm on",
    kind: "conflict",
    config: { engine: { liveRestore: true }, swarm: { enabled: true } },
    errors: [
      "dockfleet:engine.liveRestore = true: cannot be true with the swarm on: Docker refuses swarm " +
        "mode with live-restore (leave it unset: it is then on only without a swarm)",
    ],
  },
  {
    title: "a registry password that is not a string (never quoted back)",
    kind: "secret",
    config: { registry: { enabled: true, password: 1234 } },
    errors: [
      "dockfleet:registry.password = [secret]: Invalid input: expected string, received number",
    ],
  },
  {
    title: "a daemon label key with spaces",
    kind: "format",
    config: { engine: { labels: { "Bad Key": "x" } } },
    errors: ['dockfleet:engine.labels.Bad Key = "x": Invalid key in record'],
  },
  {
    title: "a step time bound too short to do anything",
    kind: "range",
    config: { stepTimeouts: { install: 2 } },
    errors: ["dockfleet:stepTimeouts.install = 2: must be at least 5"],
  },
  {
    title: "a step time bound as a duration string",
    kind: "type",
    config: { stepTimeouts: { configure: "5m" } },
    errors: [
      'dockfleet:stepTimeouts.configure = "5m": must be a whole number of seconds, e.g. 600',
    ],
  },
  {
    title: "a step kind that does not exist",
    kind: "unknown key",
    config: { stepTimeouts: { docker: 600 } },
    errors: [
      'dockfleet:stepTimeouts.docker: unknown key (check the spelling; see README "Stack config")',
    ],
  },
  {
    title: "a renewal window written in words",
    kind: "format",
    config: { certificates: { renewBefore: "30 days" } },
    errors: [
      'dockfleet:certificates.renewBefore = "30 days": must be a duration like "30d", "12h", "90m" or "45s" (a whole number and one unit)',
    ],
  },
  {
    title: "a renewal window as long as the certificates last",
    kind: "conflict",
    config: { certificates: { duration: "90d", renewBefore: "90d" } },
    errors: [
      'dockfleet:certificates.renewBefore = "90d": must be shorter than certificates.duration (90d): otherwise every up issues the certificates again',
    ],
  },
  {
    title: "an etcd data directory of / (destroy would wipe the host)",
    kind: "path",
    config: { etcd: { enabled: true, dataDir: "/" } },
    errors: [
      'dockfleet:etcd.dataDir = "/": is / itself, which holds much else (its data is deleted with it): choose a directory of its own below it',
    ],
  },
  {
    title: "an etcd data directory inside /etc",
    kind: "path",
    config: { etcd: { enabled: true, dataDir: "/etc/etcd" } },
    errors: [
      'dockfleet:etcd.dataDir = "/etc/etcd": lies in /etc, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "an etcd data directory inside Docker's own",
    kind: "path",
    config: { etcd: { enabled: true, dataDir: "/var/lib/docker/etcd" } },
    errors: [
      'dockfleet:etcd.dataDir = "/var/lib/docker/etcd": lies in /var/lib/docker, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "an etcd data directory climbing out with ..",
    kind: "path",
    config: { etcd: { enabled: true, dataDir: "/var/lib/etcd/../docker" } },
    errors: [
      'dockfleet:etcd.dataDir = "/var/lib/etcd/../docker": must not contain "." or ".." segments: give the directory itself',
    ],
  },
  {
    title: "an etcd data directory with a space",
    kind: "path",
    config: { etcd: { enabled: true, dataDir: "/var/lib/etcd data" } },
    errors: [
      'dockfleet:etcd.dataDir = "/var/lib/etcd data": must be an absolute path of letters, digits, ".", "_", "-" and "/", e.g. "/var/lib/etcd/dockfleet"',
    ],
  },
  {
    title: "registry storage inside /usr",
    kind: "path",
    config: { registry: { enabled: true, storagePath: "/usr/local/registry" } },
    errors: [
      'dockfleet:registry.storagePath = "/usr/local/registry": lies in /usr, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "registry storage in Docker's data root itself",
    kind: "path",
    config: { registry: { enabled: true, storagePath: "/var/lib/docker" } },
    errors: [
      'dockfleet:registry.storagePath = "/var/lib/docker": lies in /var/lib/docker, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "registry storage of /var itself",
    kind: "path",
    config: { registry: { enabled: true, storagePath: "/var" } },
    errors: [
      'dockfleet:registry.storagePath = "/var": is /var itself, which holds much else (its data is deleted with it): choose a directory of its own below it',
    ],
  },
  {
    title: "registry storage climbing out with ..",
    kind: "path",
    config: { registry: { enabled: true, storagePath: "/srv/registry/../../etc" } },
    errors: [
      'dockfleet:registry.storagePath = "/srv/registry/../../etc": must not contain "." or ".." segments: give the directory itself',
    ],
  },
  {
    title: "a relative registry storage path",
    kind: "path",
    config: { registry: { enabled: true, storagePath: "registry-data" } },
    errors: [
      'dockfleet:registry.storagePath = "registry-data": must be an absolute path of letters, digits, ".", "_", "-" and "/", e.g. "/var/lib/docker-registry"',
    ],
  },
  {
    title: "registry storage inside /boot",
    kind: "path",
    config: { registry: { enabled: true, storagePath: "/boot/registry" } },
    errors: [
      'dockfleet:registry.storagePath = "/boot/registry": lies in /boot, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "a VirtualBox work directory outside the project with ..",
    kind: "path",
    config: {
      driver: "virtualbox",
      virtualbox: { image: "images/debian-12.ova", workDir: "../vms" },
    },
    errors: [
      'dockfleet:virtualbox.workDir = "../vms": must not contain ".." segments: give the directory itself',
    ],
  },
  {
    title: "a VirtualBox work directory inside /etc",
    kind: "path",
    config: {
      driver: "virtualbox",
      virtualbox: { image: "images/debian-12.ova", workDir: "/etc/vbox" },
    },
    errors: [
      'dockfleet:virtualbox.workDir = "/etc/vbox": lies in /etc, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "qemu VMs with less memory than Debian boots in",
    kind: "range",
    config: { driver: "qemu", qemu: { memoryMb: 128 } },
    errors: ["dockfleet:qemu.memoryMb = 128: must be at least 256"],
  },
  {
    title: "a qemu accelerator that does not exist",
    kind: "format",
    config: { driver: "qemu", qemu: { accelerator: "hvf" } },
    errors: ['dockfleet:qemu.accelerator = "hvf": must be one of "auto", "kvm", "tcg"'],
  },
  {
    title: "more qemu VMs than the subnet holds",
    kind: "conflict",
    config: { driver: "qemu", hosts: 6, qemu: { subnet: "172.30.20.0/28" } },
    errors: [
      'dockfleet:qemu.subnet = "172.30.20.0/28": holds 5 VMs from .10 on, not 6: choose a larger subnet',
    ],
  },
  {
    title: "the Docker API on the SSH port",
    kind: "port",
    config: { engine: { tlsPort: 22 } },
    errors: [
      "dockfleet:engine.tlsPort = 22: collides with SSH (22) on every host: give each service its own port",
    ],
  },
  {
    title: "the registry on the Docker API's port",
    kind: "port",
    config: { registry: { enabled: true, port: 2376 } },
    errors: [
      "dockfleet:registry.port = 2376: collides with engine.tlsPort (the Docker API) on host-1: give each service its own port",
    ],
  },
  {
    title: "the registry on the swarm's port",
    kind: "port",
    config: { swarm: { enabled: true }, registry: { enabled: true, port: 2377 } },
    errors: [
      "dockfleet:registry.port = 2377: collides with swarm.port (swarm management) on host-1: give each service its own port",
    ],
  },
  {
    title: "the registry on the swarm's gossip port",
    kind: "port",
    config: { swarm: { enabled: true }, registry: { enabled: true, port: 7946 } },
    errors: [
      "dockfleet:registry.port = 7946: collides with the swarm's node gossip (7946) on host-1: give each service its own port",
    ],
  },
  {
    title: "the registry on the swarm's VXLAN port",
    kind: "port",
    config: { swarm: { enabled: true }, registry: { enabled: true, port: 4789 } },
    errors: [
      "dockfleet:registry.port = 4789: collides with the swarm's overlay traffic (VXLAN, 4789) on host-1: give each service its own port",
    ],
  },
  {
    title: "etcd clients on the Docker API's port",
    kind: "port",
    config: { etcd: { enabled: true, clientPort: 2376 } },
    errors: [
      "dockfleet:etcd.clientPort = 2376: collides with engine.tlsPort (the Docker API) on every host: give each service its own port",
    ],
  },
  {
    title: "the registry on etcd's peer port",
    kind: "port",
    config: { etcd: { enabled: true }, registry: { enabled: true, port: 2380 } },
    errors: [
      "dockfleet:registry.port = 2380: collides with etcd.peerPort on host-1: give each service its own port",
    ],
  },
  {
    title: "the swarm on etcd's client port",
    kind: "port",
    config: { etcd: { enabled: true }, swarm: { enabled: true, port: 2379 } },
    errors: [
      "dockfleet:etcd.clientPort = 2379 (the default): collides with swarm.port (swarm management) on every host: give each service its own port",
    ],
  },
  {
    title: "the swarm on the SSH port",
    kind: "port",
    config: { swarm: { enabled: true, port: 22 } },
    errors: [
      "dockfleet:swarm.port = 22: collides with SSH (22) on every host: give each service its own port",
    ],
  },
  {
    title: "etcd peers on the swarm's gossip port",
    kind: "port",
    config: { etcd: { enabled: true, peerPort: 7946 }, swarm: { enabled: true } },
    errors: [
      "dockfleet:etcd.peerPort = 7946: collides with the swarm's node gossip (7946) on every host: give each service its own port",
    ],
  },
  {
    title: "the counter app on the Docker API's port",
    kind: "port",
    config: {
      swarm: { enabled: true },
      apps: { enabled: true, pushImages: false, counter: { port: 2376 } },
    },
    errors: [
      "dockfleet:apps.counter.port = 2376: collides with engine.tlsPort (the Docker API) on every host: give each service its own port",
    ],
  },
  {
    title: "both sample apps on one port",
    kind: "port",
    config: {
      swarm: { enabled: true },
      apps: { enabled: true, pushImages: false, counter: { port: 8080 } },
    },
    errors: [
      "dockfleet:apps.wordpress.port = 8080 (the default): collides with apps.counter.port (the counter app) on every host: give each service its own port",
    ],
  },
  {
    title: "WordPress on the registry's port",
    kind: "port",
    config: {
      swarm: { enabled: true },
      registry: { enabled: true },
      apps: { enabled: true, wordpress: { port: 5000 } },
    },
    errors: [
      "dockfleet:apps.wordpress.port = 5000: collides with registry.port (the private registry) on host-1: give each service its own port",
    ],
  },
  {
    title: "the counter app on the swarm's VXLAN port",
    kind: "port",
    config: {
      swarm: { enabled: true },
      apps: { enabled: true, pushImages: false, counter: { port: 4789 } },
    },
    errors: [
      "dockfleet:apps.counter.port = 4789: collides with the swarm's overlay traffic (VXLAN, 4789) on every host: give each service its own port",
    ],
  },
  {
    title: "an ssh host's SSH port taken by the Docker API",
    kind: "port",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "10.0.0.1" },
        { name: "web-2", address: "10.0.0.2", port: 2376 },
      ],
    },
    errors: [
      "dockfleet:engine.tlsPort = 2376 (the default): collides with sshHosts[1].port (SSH) on web-2: give each service its own port",
    ],
  },
  {
    title: "a local subnet given by a host address",
    kind: "CIDR",
    config: { local: { subnet: "172.30.10.5/24" } },
    errors: [
      'dockfleet:local.subnet = "172.30.10.5/24": has bits set after the prefix: give the network address (e.g. 10.0.0.5/24 is 10.0.0.0/24)',
    ],
  },
  {
    title: "a local subnet over this machine's docker0",
    kind: "CIDR",
    config: { local: { subnet: "172.17.0.0/24" } },
    errors: [
      'dockfleet:local.subnet = "172.17.0.0/24": overlaps 172.17.0.0/16, the default bridge (docker0) of this machine\'s Docker: choose another range, e.g. "172.30.10.0/24"',
    ],
  },
  {
    title: "an overlay subnet with an octet over 255",
    kind: "CIDR",
    config: { swarm: { enabled: true, networks: [{ name: "apps", subnet: "300.0.0.0/24" }] } },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "300.0.0.0/24": must be an IPv4 CIDR with a prefix from /8 to /29, e.g. "10.20.0.0/24"',
    ],
  },
  {
    title: "an overlay subnet with a prefix over 32",
    kind: "CIDR",
    config: { swarm: { enabled: true, networks: [{ name: "apps", subnet: "10.20.0.0/33" }] } },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "10.20.0.0/33": must be an IPv4 CIDR with a prefix from /8 to /29, e.g. "10.20.0.0/24"',
    ],
  },
  {
    title: "an overlay subnet given by a host address",
    kind: "CIDR",
    config: { swarm: { enabled: true, networks: [{ name: "apps", subnet: "10.20.0.1/24" }] } },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "10.20.0.1/24": has bits set after the prefix: give the network address (e.g. 10.0.0.5/24 is 10.0.0.0/24)',
    ],
  },
  {
    title: "two overlay networks overlapping",
    kind: "CIDR",
    config: {
      swarm: {
        enabled: true,
        networks: [
          { name: "apps", subnet: "10.20.0.0/16" },
          { name: "db", subnet: "10.20.5.0/24" },
        ],
      },
    },
    errors: [
      'dockfleet:swarm.networks[1].subnet = "10.20.5.0/24": overlaps networks[0].subnet (10.20.0.0/16): give each network its own range',
    ],
  },
  {
    title: "an overlay network over the hosts' own subnet",
    kind: "CIDR",
    config: {
      local: { subnet: "10.30.0.0/24" },
      swarm: { enabled: true, networks: [{ name: "apps", subnet: "10.30.0.0/25" }] },
    },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "10.30.0.0/25": overlaps the hosts\' network local.subnet (10.30.0.0/24): choose a range of its own',
    ],
  },
  {
    title: "an overlay network in Docker's bridge pool (docker_gwbridge)",
    kind: "CIDR",
    config: { swarm: { enabled: true, networks: [{ name: "apps", subnet: "172.18.0.0/24" }] } },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "172.18.0.0/24": overlaps Docker\'s default address pool 172.18.0.0/16, which the hosts\' bridges take: choose a range outside 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16, e.g. "10.20.0.0/24"',
    ],
  },
  {
    title: "an overlay network in Docker's 192.168 pool",
    kind: "CIDR",
    config: { swarm: { enabled: true, networks: [{ name: "apps", subnet: "192.168.100.0/24" }] } },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "192.168.100.0/24": overlaps Docker\'s default address pool 192.168.0.0/16, which the hosts\' bridges take: choose a range outside 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16, e.g. "10.20.0.0/24"',
    ],
  },
  {
    title: "an overlay network over the default bridge",
    kind: "CIDR",
    config: { swarm: { enabled: true, networks: [{ name: "apps", subnet: "172.16.0.0/12" }] } },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "172.16.0.0/12": overlaps Docker\'s default address pool 172.17.0.0/16, which the hosts\' bridges take: choose a range outside 172.17.0.0/16-172.31.0.0/16 and 192.168.0.0/16, e.g. "10.20.0.0/24"',
    ],
  },
  {
    title: "an overlay network inside the AWS VPC",
    kind: "CIDR",
    config: {
      driver: "aws",
      aws: { region: "eu-west-1", adminCidrs: ["203.0.113.7/32"] },
      swarm: { enabled: true, networks: [{ name: "apps", subnet: "10.70.8.0/24" }] },
    },
    errors: [
      'dockfleet:swarm.networks[0].subnet = "10.70.8.0/24": overlaps the hosts\' network aws.vpcCidr (10.70.0.0/16): choose a range of its own',
    ],
  },
  {
    title: "a VPC range given by a host address",
    kind: "CIDR",
    config: {
      driver: "aws",
      aws: { region: "eu-west-1", adminCidrs: ["203.0.113.7/32"], vpcCidr: "10.70.0.1/16" },
    },
    errors: [
      'dockfleet:aws.vpcCidr = "10.70.0.1/16": has bits set after the prefix: give the network address (e.g. 10.0.0.5/24 is 10.0.0.0/24)',
    ],
  },
  {
    title: "more swarm managers than hosts",
    kind: "range",
    config: { swarm: { enabled: true, managers: 4 } },
    errors: [
      "dockfleet:swarm.managers = 4: must be at most the number of swarm hosts (3: host-1, host-2, host-3): lower managers or add hosts",
    ],
  },
  {
    title: "more swarm workers than hosts left",
    kind: "range",
    config: { swarm: { enabled: true, managers: 1, workers: 5 } },
    errors: [
      "dockfleet:swarm.workers = 5: must be at most the swarm hosts left after 1 manager(s) (2 of 3: host-1, host-2, host-3): lower workers or add hosts",
    ],
  },
  {
    title: "more managers than the listed swarm hosts",
    kind: "range",
    config: { swarm: { enabled: true, hosts: ["host-1", "host-2"], managers: 3 } },
    errors: [
      "dockfleet:swarm.managers = 3: must be at most the number of swarm hosts (2: host-1, host-2): lower managers or add hosts",
    ],
  },
  {
    title: "a swarm host that does not exist",
    kind: "reference",
    config: { swarm: { enabled: true, hosts: ["host-1", "host-7"] } },
    errors: [
      'dockfleet:swarm.hosts[1] = "host-7": must be a host of this environment (host-1, host-2, host-3)',
    ],
  },
  {
    title: "node settings for a host that is not a node",
    kind: "reference",
    config: {
      swarm: {
        enabled: true,
        managers: 1,
        workers: 1,
        nodes: { "host-3": { availability: "drain" } },
      },
    },
    errors: [
      'dockfleet:swarm.nodes.host-3 = {"availability":"drain"}: is not a node of the swarm (host-1, host-2): remove its settings or add the host',
    ],
  },
  {
    title: "a swarm host missing from the ssh host list",
    kind: "reference",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "10.0.0.1" }],
      swarm: { enabled: true, hosts: ["web-1", "db-1"] },
    },
    errors: ['dockfleet:swarm.hosts[1] = "db-1": must be a host of this environment (web-1)'],
  },
  {
    title: "an etcd member missing from the ssh host list",
    kind: "reference",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "10.0.0.1" }],
      etcd: { enabled: true, members: ["db-1"] },
    },
    errors: ['dockfleet:etcd.members[0] = "db-1": must be a host of this environment (web-1)'],
  },
  {
    title: "a registry host that does not exist",
    kind: "reference",
    config: { registry: { enabled: true, host: "host-4" } },
    errors: [
      'dockfleet:registry.host = "host-4": must be a host of this environment (host-1, host-2, host-3)',
    ],
  },
  {
    title: "more etcd members than the ssh hosts",
    kind: "range",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "10.0.0.1" }],
      etcd: { enabled: true },
    },
    errors: ["dockfleet:etcd.members = 3 (the default): must be at most the number of hosts (1)"],
  },
  {
    title: "two ssh hosts at the same address",
    kind: "duplicate",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "10.0.0.1" },
        { name: "web-2", address: "10.0.0.1" },
      ],
    },
    errors: [
      'dockfleet:sshHosts[1].address = "10.0.0.1": is the address of sshHosts[0] (web-1) too, on the same port: list each host once',
    ],
  },
  {
    title: "two ssh hosts sharing a private address",
    kind: "duplicate",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "203.0.113.1", privateAddress: "10.0.0.1" },
        { name: "web-2", address: "203.0.113.2", privateAddress: "10.0.0.1" },
      ],
    },
    errors: [
      'dockfleet:sshHosts[1].privateAddress = "10.0.0.1": is the private address of sshHosts[0] (web-1) too: etcd and the swarm reach each host at its own; set privateAddress',
    ],
  },
  {
    title: "two hosts behind one address (port forwards) without private addresses",
    kind: "duplicate",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "203.0.113.1", port: 2201 },
        { name: "web-2", address: "203.0.113.1", port: 2202 },
      ],
    },
    errors: [
      'dockfleet:sshHosts[1].address = "203.0.113.1": is the private address of sshHosts[0] (web-1) too: etcd and the swarm reach each host at its own; set privateAddress',
    ],
  },
  {
    title: "an ssh address with a space",
    kind: "format",
    config: { driver: "ssh", sshHosts: [{ name: "web-1", address: "10.0.0.1 10.0.0.2" }] },
    errors: [
      'dockfleet:sshHosts[0].address = "10.0.0.1 10.0.0.2": must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
    ],
  },
  {
    title: "an ssh address with a newline",
    kind: "format",
    config: { driver: "ssh", sshHosts: [{ name: "web-1", address: "10.0.0.1\nProxyCommand sh" }] },
    errors: [
      'dockfleet:sshHosts[0].address = "10.0.0.1\\nProxyCommand sh": must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
    ],
  },
  {
    title: "an ssh address read as an option",
    kind: "format",
    config: { driver: "ssh", sshHosts: [{ name: "web-1", address: "-oProxyCommand=sh" }] },
    errors: [
      'dockfleet:sshHosts[0].address = "-oProxyCommand=sh": must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
    ],
  },
  {
    title: "a private address with a trailing tab",
    kind: "format",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "10.0.0.1", privateAddress: "10.0.0.1\t" }],
    },
    errors: [
      'dockfleet:sshHosts[0].privateAddress = "10.0.0.1\\t": must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
    ],
  },
  {
    title: "a registry mirror carrying credentials (never quoted back)",
    kind: "URL",
    config: { engine: { registryMirrors: ["https://mirror-user:s3cret-pw@mirror.example.com"] } },
    errors: [
      'dockfleet:engine.registryMirrors[0] = "https://[secret]@mirror.example.com": must not carry credentials (user:password@): they would be written in clear on every host; e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "a registry mirror carrying a query string",
    kind: "URL",
    config: { engine: { registryMirrors: ["https://mirror.example.com/?token=abc"] } },
    errors: [
      'dockfleet:engine.registryMirrors[0] = "https://mirror.example.com/?token=abc": must not carry a query string or fragment ("?", "#"): give the base URL, e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "a docker-ce mirror carrying credentials (never quoted back)",
    kind: "URL",
    config: {
      engine: { source: "mirror", mirrorUrl: "https://ops:s3cret-pw@mirror.example.com/docker-ce" },
    },
    errors: [
      'dockfleet:engine.mirrorUrl = "https://[secret]@mirror.example.com/docker-ce": must not carry credentials (user:password@): they would be written in clear on every host; e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "an etcd download URL with a query string",
    kind: "URL",
    config: {
      etcd: {
        enabled: true,
        source: "tarball",
        downloadUrl: "https://mirrors.example.com/etcd?ref=main",
        sha256: { amd64: ETCD_SHA256_EXAMPLE },
      },
    },
    errors: [
      'dockfleet:etcd.downloadUrl = "https://mirrors.example.com/etcd?ref=main": must not carry a query string or fragment ("?", "#"): give the base URL, e.g. "https://mirrors.example.com/etcd"',
    ],
  },
  {
    title: "a registry upstream carrying credentials (never quoted back)",
    kind: "URL",
    config: {
      registry: {
        enabled: true,
        proxy: { remoteUrl: "https://bob:s3cret-pw@registry.example.com" },
      },
    },
    errors: [
      'dockfleet:registry.proxy.remoteUrl = "https://[secret]@registry.example.com": must not carry credentials (user:password@): they would be written in clear on every host; e.g. "https://registry-1.docker.io"',
    ],
  },
  {
    title: "an anonymous pull-through into a private upstream, not asked for by name",
    kind: "conflict",
    config: {
      registry: {
        enabled: true,
        authentication: false,
        proxy: {
          remoteUrl: "https://registry.example.com",
          username: "ci",
          password: "s3cret-pw",
        },
      },
    },
    errors: [
      "dockfleet:registry.authentication = false: is false while proxy.username/proxy.password log in to the upstream: anyone who reaches the port would pull its private images with your credentials. Turn authentication on, drop the upstream credentials, or set proxy.anonymousPullsOfPrivateUpstream: true if that is what you want",
    ],
  },
  {
    title: "a proxy URL with a path (never quoting its password)",
    kind: "URL",
    config: { proxy: { http: "http://fleet:s3cret-pw@proxy.example.com:3128/squid" } },
    errors: [
      'dockfleet:proxy.http = "http://[secret]@proxy.example.com:3128/squid": must be an http(s) URL of the proxy itself, without a path, e.g. "http://proxy.example.com:3128" (credentials as "http://user:password@host:port", special characters percent-encoded, set with `pulumi config set --secret --path`)',
    ],
  },
  {
    title: "a proxy given without a scheme",
    kind: "URL",
    config: { proxy: { http: "proxy.example.com:3128" } },
    errors: [
      'dockfleet:proxy.http = "proxy.example.com:3128": must be an http(s) URL of the proxy itself, without a path, e.g. "http://proxy.example.com:3128" (credentials as "http://user:password@host:port", special characters percent-encoded, set with `pulumi config set --secret --path`)',
    ],
  },
  {
    title: "no-proxy entries joined in one string",
    kind: "format",
    config: { proxy: { http: "http://proxy.example.com:3128", noProxy: ["10.0.0.0/8,.corp"] } },
    errors: [
      'dockfleet:proxy.noProxy[0] = "10.0.0.0/8,.corp": must be a host name, a domain (".corp.example.com"), an IP address or a CIDR, e.g. "10.0.0.0/8"',
    ],
  },
  {
    title: "a registry mirror with a fragment",
    kind: "URL",
    config: { engine: { registryMirrors: ["https://mirror.example.com/#main"] } },
    errors: [
      'dockfleet:engine.registryMirrors[0] = "https://mirror.example.com/#main": must not carry a query string or fragment ("?", "#"): give the base URL, e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "an OS mirror carrying credentials (never quoted back)",
    kind: "URL",
    config: {
      driver: "aliyun",
      aliyun: {
        region: "cn-hangzhou",
        adminCidrs: ["203.0.113.7/32"],
        osMirror: "http://apt:s3cret-pw@mirror.example.com",
      },
    },
    errors: [
      'dockfleet:aliyun.osMirror = "http://[secret]@mirror.example.com": must not carry credentials (user:password@): they would be written in clear on every host; e.g. "https://mirror.example.com"',
    ],
  },
  {
    title: "an insecure registry of every IPv4 address",
    kind: "range",
    config: { engine: { insecureRegistries: ["0.0.0.0/0"] } },
    errors: [
      'dockfleet:engine.insecureRegistries[0] = "0.0.0.0/0": trusts every address over plain HTTP (anyone on the path could serve images): name the registries, e.g. "10.0.0.5:5000" or "10.0.0.0/24"',
    ],
  },
  {
    title: "an insecure registry of every IPv6 address",
    kind: "range",
    config: { engine: { insecureRegistries: ["10.0.0.5:5000", "::/0"] } },
    errors: [
      'dockfleet:engine.insecureRegistries[1] = "::/0": trusts every address over plain HTTP (anyone on the path could serve images): name the registries, e.g. "10.0.0.5:5000" or "10.0.0.0/24"',
    ],
  },
  {
    title: "Docker's data root of / (removing Docker would wipe the host)",
    kind: "path",
    config: { engine: { daemonOptions: { "data-root": "/" } } },
    errors: [
      'dockfleet:engine.daemonOptions.data-root = "/": is / itself, which holds much else (its data is deleted with it): choose a directory of its own below it',
    ],
  },
  {
    title: "Docker's data root inside /usr",
    kind: "path",
    config: { engine: { daemonOptions: { "data-root": "/usr/local/docker" } } },
    errors: [
      'dockfleet:engine.daemonOptions.data-root = "/usr/local/docker": lies in /usr, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"',
    ],
  },
  {
    title: "Docker's data root climbing out with ..",
    kind: "path",
    config: { engine: { daemonOptions: { "data-root": "/srv/docker/../../etc" } } },
    errors: [
      'dockfleet:engine.daemonOptions.data-root = "/srv/docker/../../etc": must not contain "." or ".." segments: give the directory itself',
    ],
  },
  {
    title: "a swarm without managers (and no workers either)",
    kind: "range",
    config: { swarm: { enabled: true, managers: 0, workers: 0 } },
    errors: ["dockfleet:swarm.managers = 0: must be at least 1"],
  },
  {
    title: "an etcd flag value with a space (it would break /etc/default/etcd)",
    kind: "format",
    config: { etcd: { enabled: true, extraFlags: { "auto-compaction-retention": "1 h" } } },
    errors: [
      'dockfleet:etcd.extraFlags.auto-compaction-retention = "1 h": must be a value without ' +
        "whitespace, quotes, '\\', '$' or '`' (it is written into /etc/default/etcd)",
    ],
  },
  {
    title: "a plain-http docker-ce mirror without saying it is insecure",
    kind: "URL",
    config: { engine: { source: "mirror", mirrorUrl: "http://mirror.example.com/docker-ce" } },
    errors: [
      'dockfleet:engine.mirrorUrl = "http://mirror.example.com/docker-ce": is plain http, which anyone on the path can read and tamper with: use an https:// mirror, or set engine.allowInsecureHttpMirror: true to accept it knowingly',
    ],
  },
  {
    title: "a plain-http docker-ce mirror accepted by a string, not true",
    kind: "type",
    config: {
      engine: {
        source: "mirror",
        mirrorUrl: "http://mirror.example.com/docker-ce",
        allowInsecureHttpMirror: "yes",
      },
    },
    errors: [
      'dockfleet:engine.allowInsecureHttpMirror = "yes": Invalid input: expected boolean, received string',
    ],
  },
  {
    title: "an etcd release tarball without a checksum to check it against",
    kind: "conflict",
    config: { etcd: { enabled: true, source: "tarball", version: "3.5.17" } },
    errors: [
      'dockfleet:etcd.sha256 = (missing): is required for etcd.version "3.5.17" with source "tarball": dockfleet pins no published checksum for this release and never installs an unverified download; give the SHA-256 of etcd-v3.5.17-linux-<arch>.tar.gz from the release\'s SHA256SUMS, e.g. {"amd64": "<64 hex digits>"}',
    ],
  },
  {
    title: "an etcd checksum that is not a SHA-256",
    kind: "format",
    config: {
      etcd: { enabled: true, source: "tarball", sha256: { amd64: "md5:0cc175b9c0f1b6a8" } },
    },
    errors: [
      'dockfleet:etcd.sha256.amd64 = "md5:0cc175b9c0f1b6a8": must be a SHA-256 digest: 64 lower-case hex digits',
    ],
  },
  {
    title: "an etcd checksum for an architecture etcd has no release for",
    kind: "format",
    config: { etcd: { enabled: true, source: "tarball", sha256: { x86_64: ETCD_SHA256_EXAMPLE } } },
    errors: [
      'dockfleet:etcd.sha256.x86_64: unknown key (check the spelling; see README "Stack config")',
      `dockfleet:etcd.sha256 = {"x86_64":"${ETCD_SHA256_EXAMPLE}"}: is required for etcd.version "3.5.17" with source "tarball": dockfleet pins no published checksum for this release and never installs an unverified download; give the SHA-256 of etcd-v3.5.17-linux-<arch>.tar.gz from the release's SHA256SUMS, e.g. {"amd64": "<64 hex digits>"}`,
    ],
  },
  {
    title: "an IPv6 ssh address in brackets",
    kind: "format",
    config: { driver: "ssh", sshHosts: [{ name: "web-1", address: "[2001:db8::1]" }] },
    errors: [
      'dockfleet:sshHosts[0].address = "[2001:db8::1]": must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
    ],
  },
  {
    title: "an ssh address with an underscore (no certificate can name it)",
    kind: "format",
    config: { driver: "ssh", sshHosts: [{ name: "web-1", address: "web_1.example.com" }] },
    errors: [
      'dockfleet:sshHosts[0].address = "web_1.example.com": must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
    ],
  },
  {
    title: "a swarm on an ssh host given by DNS name only",
    kind: "conflict",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "web-1.example.com" }],
      swarm: { enabled: true },
    },
    errors: [
      'dockfleet:sshHosts[0].address = "web-1.example.com": is a DNS name and, with no privateAddress, the private address too, which the swarm on web-1 listens on or advertises, so it must be an IP address: set sshHosts[0].privateAddress to the host\'s IP address (address may stay a name)',
    ],
    preview: true,
  },
  {
    title: "an etcd member at a private address given by DNS name",
    kind: "conflict",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "web-1.example.com", privateAddress: "10.0.0.1" },
        { name: "web-2", address: "web-2.example.com", privateAddress: "web-2.internal" },
      ],
      etcd: { enabled: true, members: 2 },
    },
    errors: [
      'dockfleet:sshHosts[1].privateAddress = "web-2.internal": must be an IP address, not a DNS name, e.g. "10.0.0.5": etcd on web-2 listens on or advertises it',
    ],
  },
  {
    title: "the registry and the swarm on a host whose private address is a DNS name",
    kind: "conflict",
    config: {
      driver: "ssh",
      sshHosts: [{ name: "web-1", address: "10.0.0.1", privateAddress: "web-1.internal" }],
      swarm: { enabled: true },
      registry: { enabled: true },
    },
    errors: [
      'dockfleet:sshHosts[0].privateAddress = "web-1.internal": must be an IP address, not a DNS name, e.g. "10.0.0.5": the swarm and the registry on web-1 listen on or advertise it',
    ],
  },
  {
    title: "Docker's cluster store on a host that runs no etcd member, given by DNS name only",
    kind: "conflict",
    config: {
      driver: "ssh",
      sshHosts: [
        { name: "web-1", address: "10.0.0.1" },
        { name: "web-2", address: "web-2.example.com" },
      ],
      etcd: { enabled: true, members: ["web-1"], dockerClusterStore: true },
    },
    errors: [
      "dockfleet:sshHosts[1].address = \"web-2.example.com\": is a DNS name and, with no privateAddress, the private address too, which Docker's cluster store (etcd.dockerClusterStore) on web-2 listens on or advertises, so it must be an IP address: set sshHosts[1].privateAddress to the host's IP address (address may stay a name)",
    ],
  },
  {
    title: "monitoring without the private registry its image comes from",
    kind: "conflict",
    config: { monitoring: { enabled: true } },
    errors: [
      "dockfleet:monitoring.enabled = true: needs the private registry (Prometheus's image is pushed there): set dockfleet:registry.enabled to true",
    ],
  },
  {
    title: "a scrape interval Prometheus cannot read",
    kind: "format",
    config: {
      registry: { enabled: true },
      monitoring: { enabled: true, scrapeInterval: "15 seconds" },
    },
    errors: [
      'dockfleet:monitoring.scrapeInterval = "15 seconds": must be a Prometheus duration such as "15s" (a whole number and ms, s, m, h, d, w or y)',
    ],
  },
  {
    title: "Prometheus on a host that does not exist",
    kind: "reference",
    config: { registry: { enabled: true }, monitoring: { enabled: true, host: "host-9" } },
    errors: [
      'dockfleet:monitoring.host = "host-9": must be a host of this environment (host-1, host-2, host-3)',
    ],
  },
  {
    title: "the node exporter on the Docker API's port",
    kind: "port",
    config: {
      registry: { enabled: true },
      monitoring: { enabled: true, nodeExporterPort: 2376 },
    },
    errors: [
      "dockfleet:monitoring.nodeExporterPort = 2376: collides with engine.tlsPort (the Docker API) on every host: give each service its own port",
    ],
  },
  {
    title: "monitoring with the registry as a read-only pull-through cache",
    kind: "conflict",
    config: {
      registry: {
        enabled: true,
        authentication: false,
        proxy: { remoteUrl: "https://registry-1.docker.io" },
      },
      monitoring: { enabled: true },
    },
    errors: [
      "dockfleet:monitoring.enabled = true: needs a registry that takes pushes (Prometheus's image is pushed there), and dockfleet:registry.proxy makes it a read-only pull-through cache",
    ],
  },
];

/** The config as `pulumi.runtime.allConfig()` hands it over: "dockfleet:key" → string. */
export function toAllConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      `dockfleet:${key}`,
      typeof value === "string" ? value : JSON.stringify(value),
    ]),
  );
}

/** The full message resolveStackConfig throws for a row's problem lines. */
export function expectedMessage(errors: readonly string[]): string {
  return `invalid stack config:\n${errors.map((line) => `  - ${line}`).join("\n")}`;
}

function markdownCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, "<br>");
}

function codeCell(text: string): string {
  return `\`${markdownCell(text)}\``;
}

/** Pure: docs/bad-input.md from the table. */
export function renderBadInputDoc(cases: readonly BadConfigCase[]): string {
  const refused = cases.filter((row) => row.gap === undefined);
  const gaps = cases.filter((row) => row.gap !== undefined);
  const lines = [
    "# Bad input: what dockfleet refuses, and the exact error",
    "",
    "<!-- Generated from test/unit/bad-config-cases.ts: edit the table there and run",
    "     `npx tsx test/unit/bad-config-cases.ts`. test/unit/bad-config.test.ts fails on drift. -->",
    "",
    "Every stack config is checked by one schema (`resolveStackConfig` in",
    "`components/stack/config.ts`) before the program registers any resource, so a bad",
    "stack file stops `pulumi preview` and `pulumi up` with nothing created. The error lists every",
    "problem, one a line, naming the key, the value given (secrets are never quoted back) and what",
    "is allowed. Rows marked _preview_ are also run through a real `pulumi preview`, which is shown",
    "to leave no resource in the state.",
    "",
    `## Refused (${refused.length} cases)`,
    "",
    "| # | kind | mistake | stack config (`dockfleet:` keys) | error |",
    "| --- | --- | --- | --- | --- |",
    ...refused.map(
      (row, index) =>
        `| ${index + 1} | ${row.kind} | ${markdownCell(row.title)}${row.preview ? " _(preview)_" : ""} | ${codeCell(
          JSON.stringify(row.config),
        )} | ${row.errors.map(codeCell).join("<br>")} |`,
    ),
    "",
    "Every message starts with `invalid stack config:` and lists the problems one a line.",
    "",
    "## Warned about, not refused",
    "",
    "Plans that work but are unwise go on, with a warning in the output of `pulumi preview` and",
    "`pulumi up` (the components log them; test/unit/plan-warnings.test.ts): an even number of",
    "etcd members or of swarm managers (no more failures tolerated than with one fewer), a",
    "single swarm manager with several nodes, and more than 7 swarm managers.",
    "",
  ];
  if (gaps.length > 0) {
    lines.push(
      `## Accepted but should be refused (${gaps.length} known gaps)`,
      "",
      "| mistake | stack config | what happens today |",
      "| --- | --- | --- |",
      ...gaps.map(
        (row) =>
          `| ${markdownCell(row.title)} | ${codeCell(JSON.stringify(row.config))} | ${markdownCell(row.gap ?? "")} |`,
      ),
      "",
    );
  }
  return lines.join("\n");
}

export const BAD_INPUT_DOC = path.resolve(__dirname, "..", "..", "docs", "bad-input.md");

if (require.main === module) {
  fs.mkdirSync(path.dirname(BAD_INPUT_DOC), { recursive: true });
  fs.writeFileSync(BAD_INPUT_DOC, renderBadInputDoc(BAD_CONFIG_CASES));
  process.stderr.write(`wrote ${BAD_INPUT_DOC}\n`);
}
