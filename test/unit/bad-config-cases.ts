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
  | "reference";

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
      'dockfleet:driver = "vagrant": must be one of "local", "ssh", "aws", "aliyun", "virtualbox"',
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
      'dockfleet:driver = "docker-machine": must be one of "local", "ssh", "aws", "aliyun", "virtualbox"',
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
