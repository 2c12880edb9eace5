import { isIPv4 } from "node:net";
import { z } from "zod";
import { MANAGED_DAEMON_KEYS } from "../../provision/render/daemon-json";
import { AppsConfigSchema } from "../apps/config";
import { DEFAULT_ETCD_CONFIG, EtcdConfigSchema } from "../etcd/config";
import { planLocalHosts } from "../machines/local-run-args";
import { RegistryConfigSchema } from "../registry/config";
import { SwarmConfigSchema } from "../swarm/config";

/**
 * The one schema for a stack's `dockfleet:*` config. Every default and check lives here, so that a
 * bad stack file stops `pulumi preview` before any resource exists, with an error naming the key,
 * the value and what is allowed.
 */

const NAMESPACE = "dockfleet";

/** Presets for `engine.mirrorUrl`: docker-ce repositories laid out like download.docker.com. */
export const DOCKER_CE_MIRROR_PRESETS: Record<string, string> = {
  aliyun: "https://mirrors.aliyun.com/docker-ce",
  tuna: "https://mirrors.tuna.tsinghua.edu.cn/docker-ce",
  ustc: "https://mirrors.ustc.edu.cn/docker-ce",
};

const httpUrl = z
  .string()
  .refine((value) => /^https?:\/\/[^\s/]+/.test(value) && URL.canParse(value), {
    message: 'must be an http(s) URL, e.g. "https://mirror.example.com"',
  });

/** host[:port] as Docker expects in insecure-registries (or a CIDR). */
const registryHost = z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?(\/\d{1,2})?$/, {
  message: 'must be host[:port] or a CIDR, e.g. "10.0.0.5:5000", without a scheme',
});

const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, {
  message: "must be 2-32 characters of a-z, 0-9 and '-', starting with a letter",
});

const ipv4Cidr = z.string().refine(
  (value) => {
    const [address, bits, ...rest] = value.split("/");
    const prefix = Number(bits);
    return (
      rest.length === 0 &&
      isIPv4(address) &&
      Number.isInteger(prefix) &&
      prefix >= 16 &&
      prefix <= 28
    );
  },
  { message: 'must be an IPv4 CIDR with a prefix from /16 to /28, e.g. "172.30.10.0/24"' },
);

/** Pure: an IPv4 CIDR's network address (as a 32-bit number) and prefix, or undefined. */
export function parseIpv4Cidr(value: string): { base: number; prefix: number } | undefined {
  const [address, bits, ...rest] = value.split("/");
  const prefix = Number(bits);
  if (rest.length > 0 || !isIPv4(address) || bits === "" || !Number.isInteger(prefix)) {
    return undefined;
  }
  if (prefix < 0 || prefix > 32) return undefined;
  const base = address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
  return { base, prefix };
}

/** Pure: whether CIDR `inner` lies wholly inside CIDR `outer`. */
export function cidrContains(outer: string, inner: string): boolean {
  const a = parseIpv4Cidr(outer);
  const b = parseIpv4Cidr(inner);
  if (a === undefined || b === undefined || b.prefix < a.prefix) return false;
  const size = 2 ** (32 - a.prefix);
  return Math.floor(b.base / size) === Math.floor(a.base / size);
}

/**
 * Where the cloud drivers open SSH (22) and the Docker API (2376): the operator's own addresses.
 * There is no default, and 0.0.0.0/0 is refused: the whole internet is never an admin network.
 */
const adminCidr = z.string().superRefine((value, ctx) => {
  const cidr = parseIpv4Cidr(value);
  if (cidr === undefined) {
    ctx.addIssue({
      code: "custom",
      message: 'must be an IPv4 CIDR of the addresses you administer from, e.g. "203.0.113.7/32"',
    });
  } else if (cidr.prefix < 8) {
    ctx.addIssue({
      code: "custom",
      message: `opens SSH and the Docker API to ${value === "0.0.0.0/0" ? "the whole internet" : "too many addresses"}: give your own address or network, e.g. "203.0.113.7/32" (prefix /8 to /32)`,
    });
  } else if (cidr.base % 2 ** (32 - cidr.prefix) !== 0) {
    ctx.addIssue({
      code: "custom",
      message: "has bits set after the prefix: give the network address (the clouds refuse others)",
    });
  }
});

/** An OpenSSH public key line, as authorized_keys and the clouds' key pairs take it. */
const openSshPublicKey = z
  .string()
  .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$/, {
    message: 'must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA... me@laptop"',
  });

/** Cloud resource tags: added to every resource the driver creates. */
const cloudTags = z
  .record(
    z.string().regex(/^(?!aws:|acs:)[A-Za-z0-9 _.:/=+@-]{1,128}$/, {
      message:
        "must be 1-128 letters, digits, spaces or _ . : / = + - @, not starting aws: or acs:",
    }),
    z.string().max(256),
  )
  .default({});

export const EngineConfigSchema = z.strictObject({
  /** Where Docker comes from: the distribution's docker.io, the official docker-ce repo, or a mirror of it. */
  source: z.enum(["distro", "docker-ce", "mirror"]).default("distro"),
  /** With source "mirror": a preset name (aliyun, tuna, ustc) or the base URL of a docker-ce mirror. */
  mirrorUrl: z.union([z.enum(Object.keys(DOCKER_CE_MIRROR_PRESETS)), httpUrl]).optional(),
  /** Package version to pin (apt/dnf version string); unset installs the newest. */
  version: z
    .string()
    .regex(/^[A-Za-z0-9.:~+-]+$/, { message: "must be a package version string" })
    .optional(),
  /** Install the packages' recommended extras too (apt only). Docker does not need them. */
  installRecommends: z.boolean().default(false),
  /** Registry mirrors for Docker Hub pulls (daemon.json registry-mirrors). */
  registryMirrors: z.array(httpUrl).default([]),
  /** Registries reached over plain HTTP (daemon.json insecure-registries). */
  insecureRegistries: z.array(registryHost).default([]),
  /** Log rotation for the json-file driver. */
  logMaxSize: z
    .string()
    .regex(/^\d+[kmg]$/, { message: 'must be a size like "10m"' })
    .default("10m"),
  logMaxFile: z.int().min(1).max(100).default(3),
  /** Storage driver (daemon.json storage-driver); unset lets Docker choose. */
  storageDriver: z.enum(["overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs"]).optional(),
  /** Daemon labels, on every host (the host's own labels are added). */
  labels: z.record(z.string().regex(/^[a-z0-9.-]+$/), z.string()).default({}),
  /** Any other daemon.json option, passed through (keys dockfleet manages are refused). */
  daemonOptions: z.record(z.string(), z.unknown()).default({}),
  /** Port of the TLS-protected remote API. */
  tlsPort: z.int().min(1).max(65535).default(2376),
  /** On destroy, also remove the Docker packages (only what dockfleet installed). */
  removeOnDestroy: z.boolean().default(false),
});

const LocalDriverConfig = z.strictObject({
  /** Subnet of the stack's own Docker network; hosts get fixed addresses from .10 on. */
  subnet: ipv4Cidr.default("172.30.10.0/24"),
});

const SshHostConfig = z.strictObject({
  name: hostName,
  /** Address the operator reaches the host at. */
  address: z.string().min(1),
  /** Address other hosts reach it at (swarm, etcd); @default address */
  privateAddress: z.string().min(1).optional(),
  port: z.int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .default("root"),
  /** The host's public key ("ssh-ed25519 AAAA..."); unset pins the key seen on first contact. */
  hostKey: z
    .string()
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/, {
      message: 'must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA..."',
    })
    .optional(),
  labels: z.record(z.string(), z.string()).default({}),
});

const AwsImageConfig = z.strictObject({
  /** Which OS the AMI filter looks for: Debian's or Canonical's own published images. */
  os: z.enum(["debian-12", "ubuntu-22.04"]).default("debian-12"),
  /** CPU architecture of the AMI; the instance type must match it. */
  architecture: z.enum(["x86_64", "arm64"]).default("x86_64"),
  /** A fixed AMI id instead of the filter (the filter then only documents what it was). */
  id: z
    .string()
    .regex(/^ami-[0-9a-f]{8,17}$/, { message: 'must be an AMI id, e.g. "ami-0123456789abcdef0"' })
    .optional(),
  /** AMI owners for the filter; @default the os preset's publisher account. */
  owners: z
    .array(
      z.string().regex(/^(\d{12}|self|amazon|aws-marketplace)$/, {
        message: "must be a 12-digit account id, self, amazon or aws-marketplace",
      }),
    )
    .min(1)
    .optional(),
  /** AMI name pattern for the filter (`*` wildcards); @default the os preset's pattern. */
  nameFilter: z.string().min(1).optional(),
});

const AwsDriverConfig = z
  .strictObject({
    /** AWS region code; credentials come from the usual AWS_* variables or profiles, never here. */
    region: z
      .string()
      .regex(
        /^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d$/,
        { message: 'must be an AWS region code, e.g. "eu-west-1" or "us-east-1"' },
      ),
    /** Networks allowed to reach SSH (22) and the Docker API; required, no 0.0.0.0/0. */
    adminCidrs: z.array(adminCidr).min(1),
    /** A new VPC's address range (used unless vpcId is set). */
    vpcCidr: ipv4Cidr.default("10.70.0.0/16"),
    /** The new public subnet's range, inside vpcCidr. */
    subnetCidr: ipv4Cidr.default("10.70.1.0/24"),
    /** Zone of the new subnet; @default AWS chooses. */
    availabilityZone: z
      .string()
      .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, {
        message: 'must be a zone name, e.g. "eu-west-1a"',
      })
      .optional(),
    /** An existing VPC, with subnetId: nothing network-wide is created then. */
    vpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]{8,17}$/, { message: 'must be a VPC id, e.g. "vpc-0123456789abcdef0"' })
      .optional(),
    subnetId: z
      .string()
      .regex(/^subnet-[0-9a-f]{8,17}$/, {
        message: 'must be a subnet id, e.g. "subnet-0123456789abcdef0"',
      })
      .optional(),
    instanceType: z
      .string()
      .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, {
        message: 'must be an instance type, e.g. "t3.small"',
      })
      .default("t3.small"),
    image: AwsImageConfig.default(AwsImageConfig.parse({})),
    rootVolume: z
      .strictObject({
        sizeGb: z.int().min(8).max(16384).default(20),
        type: z.enum(["gp3", "gp2", "io1", "io2", "st1", "sc1"]).default("gp3"),
        /** EBS encryption with the account's default KMS key. */
        encrypted: z.boolean().default(true),
      })
      .default({ sizeGb: 20, type: "gp3", encrypted: true }),
    /** Give every host an Elastic IP (a fixed public address that outlives stop/start). */
    elasticIps: z.boolean().default(false),
    /** Which address dockfleet's SSH and the Docker client use: public, or private over a VPN. */
    connectVia: z.enum(["public", "private"]).default("public"),
    tags: cloudTags,
    /** Your own public key for the hosts (then dockfleet:sshPrivateKey is its private half). */
    publicKey: openSshPublicKey.optional(),
  })
  .superRefine((aws, ctx) => {
    if ((aws.vpcId === undefined) !== (aws.subnetId === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [aws.vpcId === undefined ? "vpcId" : "subnetId"],
        message: "is required with the other: give both vpcId and subnetId, or neither",
      });
    }
    if (aws.vpcId === undefined && !cidrContains(aws.vpcCidr, aws.subnetCidr)) {
      ctx.addIssue({
        code: "custom",
        path: ["subnetCidr"],
        message: `must lie inside vpcCidr ${aws.vpcCidr}`,
      });
    }
  });

const AliyunDriverConfig = z
  .strictObject({
    /** Region id; credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, never from here. */
    region: z.string().regex(/^[a-z]{2}-[a-z]+(-[a-z]+)?(-\d+)?$/, {
      message: 'must be an Alibaba Cloud region id, e.g. "cn-hangzhou" or "ap-southeast-1"',
    }),
    /** Zone of the VSwitch; @default the first zone that offers instanceType. */
    zoneId: z
      .string()
      .regex(/^[a-z]{2}-[a-z]+(-[a-z]+)?(-\d+)?-?[a-z0-9]+$/, {
        message: 'must be a zone id, e.g. "cn-hangzhou-h"',
      })
      .optional(),
    /** Networks allowed to reach SSH (22) and the Docker API; required, no 0.0.0.0/0. */
    adminCidrs: z.array(adminCidr).min(1),
    vpcCidr: ipv4Cidr.default("10.80.0.0/16"),
    /** The VSwitch's range, inside vpcCidr. */
    vswitchCidr: ipv4Cidr.default("10.80.1.0/24"),
    instanceType: z
      .string()
      .regex(/^ecs\.[a-z0-9-]+\.[a-z0-9]+$/, {
        message: 'must be an ECS instance type, e.g. "ecs.t6-c1m2.large"',
      })
      .default("ecs.t6-c1m2.large"),
    image: z
      .strictObject({
        /** Regular expression on the public image names; the newest match is used. */
        nameRegex: z.string().min(1).default("^debian_12_\\d+_x64_20G_alibase_\\d+\\.vhd$"),
        owners: z.enum(["system", "self", "others", "marketplace"]).default("system"),
        /** A fixed image id instead of the filter. */
        id: z.string().min(1).optional(),
      })
      .default({ nameRegex: "^debian_12_\\d+_x64_20G_alibase_\\d+\\.vhd$", owners: "system" }),
    systemDisk: z
      .strictObject({
        category: z
          .enum(["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud_auto"])
          .default("cloud_essd"),
        sizeGb: z.int().min(20).max(2048).default(40),
        encrypted: z.boolean().default(true),
      })
      .default({ category: "cloud_essd", sizeGb: 40, encrypted: true }),
    /** Public bandwidth in Mbit/s (pay by traffic); 0 gives no public address. */
    internetMaxBandwidthOut: z.int().min(0).max(200).default(10),
    connectVia: z.enum(["public", "private"]).default("public"),
    /** OS package mirror written into the hosts' apt sources at first boot, or "none". */
    osMirror: z.union([httpUrl, z.literal("none")]).default("https://mirrors.aliyun.com"),
    tags: cloudTags,
    publicKey: openSshPublicKey.optional(),
  })
  .superRefine((aliyun, ctx) => {
    if (!cidrContains(aliyun.vpcCidr, aliyun.vswitchCidr)) {
      ctx.addIssue({
        code: "custom",
        path: ["vswitchCidr"],
        message: `must lie inside vpcCidr ${aliyun.vpcCidr}`,
      });
    }
    if (aliyun.connectVia === "public" && aliyun.internetMaxBandwidthOut === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["internetMaxBandwidthOut"],
        message: 'must be at least 1 when connectVia is "public" (0 gives no public address)',
      });
    }
  });

/** The range VirtualBox 6.1.28+ allows for host-only networks unless /etc/vbox/networks.conf says more. */
export const VIRTUALBOX_HOST_ONLY_RANGE = "192.168.56.0/21";

const VirtualBoxDriverConfig = z.strictObject({
  /** The base image: an .ova/.ovf with cloud-init (a cloud image, or a Vagrant box's box.ovf). */
  image: z.string().regex(/\.(ova|ovf)$/i, {
    message: 'must be the path of an .ova or .ovf file, e.g. "images/debian-12-cloud.ova"',
  }),
  memoryMb: z.int().min(512).max(65536).default(2048),
  cpus: z.int().min(1).max(32).default(2),
  /** The host-only network: the host takes .1, VMs get fixed addresses from .10. */
  hostOnlyCidr: z
    .string()
    .refine((value) => cidrContains(VIRTUALBOX_HOST_ONLY_RANGE, value), {
      message: `must be an IPv4 CIDR inside ${VIRTUALBOX_HOST_ONLY_RANGE}, the range VirtualBox allows for host-only networks by default (e.g. "192.168.56.0/24")`,
    })
    .default("192.168.56.0/24"),
  /** The host-only interface to use (created when missing; VirtualBox numbers them vboxnet0, 1...). */
  hostOnlyAdapter: z
    .string()
    .regex(/^vboxnet\d+$/, { message: 'must be a host-only interface name, e.g. "vboxnet0"' })
    .default("vboxnet0"),
  /** VM i (from 0) forwards 127.0.0.1:<sshPortBase + i> to its port 22 over NAT. */
  sshPortBase: z.int().min(1024).max(65000).default(2222),
  /** The storage controller of the imported image that the cloud-init seed ISO is attached to. */
  storageController: z.string().min(1).default("SATA Controller"),
  /** Where VMs and seed ISOs are kept (VBoxManage --basefolder); relative to the project. */
  workDir: z.string().min(1).default(".dockfleet/virtualbox"),
});

/** The host names a config gives its hosts: from the ssh host list, or `<namePrefix>-<n>`. */
export function plannedHostNames(config: {
  driver: string;
  hosts: number;
  namePrefix: string;
  sshHosts: { name: string }[];
}): string[] {
  return config.driver === "ssh"
    ? config.sshHosts.map((host) => host.name)
    : Array.from({ length: config.hosts }, (_, index) => `${config.namePrefix}-${index + 1}`);
}

/** Host names that etcd, the swarm and the registry name must be hosts of the environment. */
function checkHostReferences(
  config: Parameters<typeof plannedHostNames>[0] & {
    etcd: { enabled: boolean; members: number | string[] };
    swarm: { enabled: boolean; hosts?: string[] };
    registry: { enabled: boolean; host?: string };
  },
  ctx: z.core.$RefinementCtx,
): void {
  const known = new Set(plannedHostNames(config));
  const allowed = `a host of this environment (${[...known].join(", ")})`;
  const references: [PropertyKey[], string | undefined][] = [
    ...(Array.isArray(config.etcd.members) && config.etcd.enabled
      ? config.etcd.members.map((name, index): [PropertyKey[], string] => [
          ["etcd", "members", index],
          name,
        ])
      : []),
    ...(config.swarm.enabled
      ? (config.swarm.hosts ?? []).map((name, index): [PropertyKey[], string] => [
          ["swarm", "hosts", index],
          name,
        ])
      : []),
    ...(config.registry.enabled
      ? [[["registry", "host"], config.registry.host] as [PropertyKey[], string | undefined]]
      : []),
  ];
  for (const [path, name] of references) {
    if (name !== undefined && !known.has(name)) {
      ctx.addIssue({ code: "custom", path, message: `must be ${allowed}` });
    }
  }
  if (
    config.etcd.enabled &&
    typeof config.etcd.members === "number" &&
    config.etcd.members > known.size
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["etcd", "members"],
      message: `must be at most the number of hosts (${known.size})`,
    });
  }
}

export const StackConfigSchema = z
  .strictObject({
    /** Which driver creates the hosts. */
    driver: z.enum(["local", "ssh", "aws", "aliyun", "virtualbox"]).default("local"),
    /** How many hosts the local, aws, aliyun and virtualbox drivers create. */
    hosts: z.int().min(1).max(20).default(3),
    /** Host names are `<namePrefix>-1`, `<namePrefix>-2`, ... */
    namePrefix: hostName.default("host"),
    local: LocalDriverConfig.default(LocalDriverConfig.parse({})),
    /** The ssh driver's existing hosts. */
    sshHosts: z.array(SshHostConfig).default([]),
    engine: EngineConfigSchema.default(EngineConfigSchema.parse({})),
    /** The aws driver's settings (required with driver "aws"). */
    aws: AwsDriverConfig.optional(),
    /** The aliyun driver's settings (required with driver "aliyun"). */
    aliyun: AliyunDriverConfig.optional(),
    /** The virtualbox driver's settings (required with driver "virtualbox"). */
    virtualbox: VirtualBoxDriverConfig.optional(),
    /** An etcd cluster on the hosts (components/etcd): off unless `enabled: true`. */
    etcd: EtcdConfigSchema.default(DEFAULT_ETCD_CONFIG),
    /** A Docker swarm of the hosts (components/swarm): off unless `enabled: true`. */
    swarm: SwarmConfigSchema.default(SwarmConfigSchema.parse({})),
    /** A private registry every host trusts (components/registry): off unless `enabled: true`. */
    registry: RegistryConfigSchema.default(RegistryConfigSchema.parse({})),
    /** The sample apps on the swarm (components/apps): off unless `enabled: true`. */
    apps: AppsConfigSchema.default(AppsConfigSchema.parse({})),
    /** ssh driver: the private key for the hosts. Set it with `pulumi config set --secret`. */
    sshPrivateKey: z
      .string()
      .regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, {
        message: "must be a PEM or OpenSSH private key",
      })
      .optional(),
  })
  .superRefine((config, ctx) => {
    if (config.engine.source === "mirror" && config.engine.mirrorUrl === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["engine", "mirrorUrl"],
        message: `is required when engine.source is "mirror": a preset (${Object.keys(DOCKER_CE_MIRROR_PRESETS).join(", ")}) or a URL`,
      });
    }
    if (config.driver === "ssh" && config.sshHosts.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["sshHosts"],
        message: 'must list at least one host when driver is "ssh"',
      });
    }
    if (config.engine.source !== "mirror" && config.engine.mirrorUrl !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["engine", "mirrorUrl"],
        message: `is used only with engine.source "mirror" (engine.source is "${config.engine.source}"): set both, or remove mirrorUrl`,
      });
    }
    if (config.driver === "local") {
      try {
        planLocalHosts({
          count: config.hosts,
          namePrefix: config.namePrefix,
          subnet: config.local.subnet,
        });
      } catch (error) {
        ctx.addIssue({
          code: "custom",
          path: ["local", "subnet"],
          message: (error as Error).message,
        });
      }
    }
    checkHostReferences(config, ctx);
    if (config.apps.enabled && !config.swarm.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["apps", "enabled"],
        message: "needs the swarm: set dockfleet:swarm.enabled to true",
      });
    }
    if (config.apps.enabled && config.apps.pushImages && !config.registry.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["apps", "pushImages"],
        message:
          "needs the private registry: set dockfleet:registry.enabled to true, or pushImages to false",
      });
    }
    for (const key of Object.keys(config.engine.daemonOptions)) {
      if (MANAGED_DAEMON_KEYS.includes(key)) {
        ctx.addIssue({
          code: "custom",
          path: ["engine", "daemonOptions", key],
          message:
            "is set by dockfleet from its own keys (engine.registryMirrors, engine.tlsPort, ...): use those",
        });
      }
    }
    for (const driver of ["aws", "aliyun", "virtualbox"] as const) {
      if (config.driver === driver && config[driver] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [driver],
          message: `is required when driver is "${driver}": see stacks/Pulumi.${driver === "virtualbox" ? "vbox" : driver}.yaml`,
        });
      }
    }
    for (const driver of ["aws", "aliyun"] as const) {
      if (config[driver]?.publicKey !== undefined && config.sshPrivateKey === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["sshPrivateKey"],
          message: `is required when ${driver}.publicKey is set: its private half, with \`pulumi config set --secret dockfleet:sshPrivateKey < key\``,
        });
      }
    }
    if (config.driver === "virtualbox" && config.virtualbox !== undefined) {
      const cidr = parseIpv4Cidr(config.virtualbox.hostOnlyCidr);
      const room = cidr === undefined ? 0 : 2 ** (32 - cidr.prefix) - 11;
      if (config.hosts > room) {
        ctx.addIssue({
          code: "custom",
          path: ["virtualbox", "hostOnlyCidr"],
          message: `holds ${Math.max(0, room)} VMs from .10 on, not ${config.hosts}: choose a larger range inside ${VIRTUALBOX_HOST_ONLY_RANGE}`,
        });
      }
    }
    const seen = new Set<string>();
    config.sshHosts.forEach((host, index) => {
      if (seen.has(host.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["sshHosts", index, "name"],
          message: "is used by another host: host names must be unique",
        });
      }
      seen.add(host.name);
    });
  });

export type StackConfig = z.infer<typeof StackConfigSchema>;
export type EngineConfig = StackConfig["engine"];
/** Engine settings as written, before defaults (DockerHost's `engine`). */
export type EngineConfigInput = z.input<typeof EngineConfigSchema>;
export type SshHostConfig = StackConfig["sshHosts"][number];
export type AwsDriverConfig = z.infer<typeof AwsDriverConfig>;
export type AliyunDriverConfig = z.infer<typeof AliyunDriverConfig>;
export type VirtualBoxDriverConfig = z.infer<typeof VirtualBoxDriverConfig>;

/** Thrown for invalid stack config; the message lists every problem, one per line. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/** Config values arrive as strings; structured and scalar YAML values as JSON text. */
function decodeConfigValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Values never quoted back in an error: any key on the path that names a secret. */
const SECRET_KEY_PATTERN = /password|privatekey|secret|token/i;

function formatKey(path: PropertyKey[]): string {
  return path
    .reduce<string>(
      (key, part) => (typeof part === "number" ? `${key}[${part}]` : `${key}.${String(part)}`),
      NAMESPACE,
    )
    .replace(`${NAMESPACE}.`, `${NAMESPACE}:`);
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, part) =>
      value !== null && typeof value === "object"
        ? (value as Record<PropertyKey, unknown>)[part]
        : undefined,
    input,
  );
}

function describeIssue(input: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map(
        (key) =>
          `${formatKey([...issue.path, key])}: unknown key (check the spelling; see README "Stack config")`,
      )
      .join("\n  - ");
  }
  const value = valueAt(input, issue.path);
  const shown =
    value === undefined
      ? "(missing)"
      : issue.path.some((part) => SECRET_KEY_PATTERN.test(String(part)))
        ? "[secret]"
        : JSON.stringify(value);
  let message = issue.message;
  if (issue.code === "invalid_value") {
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  } else if (issue.code === "too_small" && typeof value === "number") {
    message = `must be at least ${String(issue.minimum)}`;
  } else if (issue.code === "too_big" && typeof value === "number") {
    message = `must be at most ${String(issue.maximum)}`;
  }
  return `${formatKey(issue.path)} = ${shown}: ${message}`;
}

/**
 * Defaults that depend on the driver, applied before the schema's own. The aliyun driver installs
 * docker-ce from Aliyun's mirror unless engine.source says otherwise (download.docker.com is slow
 * or unreachable from mainland China). Pure: returns a new object.
 */
function withDriverDefaults(input: Record<string, unknown>): Record<string, unknown> {
  if (input.driver !== "aliyun") return input;
  const engine =
    input.engine !== null && typeof input.engine === "object"
      ? (input.engine as Record<string, unknown>)
      : {};
  if (engine.source !== undefined) return input;
  return { ...input, engine: { source: "mirror", mirrorUrl: "aliyun", ...engine } };
}

/**
 * Validates the stack's config (as `pulumi.runtime.allConfig()` returns it: "dockfleet:key" →
 * string) and applies every default. Keys of other namespaces (aws:, pulumi:) are ignored.
 * Pure: reads no environment, never mutates its input.
 */
export function resolveStackConfig(allConfig: Record<string, string>): StackConfig {
  const input: Record<string, unknown> = {};
  for (const [fullKey, raw] of Object.entries(allConfig)) {
    const [namespace, key] = fullKey.split(":", 2);
    if (namespace === NAMESPACE && key !== undefined) {
      input[key] = decodeConfigValue(raw);
    }
  }
  const result = StackConfigSchema.safeParse(withDriverDefaults(input));
  if (!result.success) {
    throw new StackConfigError(result.error.issues.map((issue) => describeIssue(input, issue)));
  }
  return result.data;
}

/** The docker-ce base URL an engine config asks for, or undefined for the distro's packages. */
export function dockerCeBaseUrl(engine: EngineConfig): string | undefined {
  if (engine.source === "docker-ce") return "https://download.docker.com";
  if (engine.source === "mirror" && engine.mirrorUrl !== undefined) {
    return DOCKER_CE_MIRROR_PRESETS[engine.mirrorUrl] ?? engine.mirrorUrl;
  }
  return undefined;
}
