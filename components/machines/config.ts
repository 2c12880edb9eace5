import { z } from "zod";
import {
  CIDR_HOST_BITS_MESSAGE,
  cidrContains,
  cidrHasHostBits,
  hostAddress,
  hostName,
  httpUrl,
  ipv4Network,
  parseIpv4Cidr,
  unsafePathReason,
} from "../../provision/config/fields";

/**
 * The drivers' stack config: `dockfleet:local`, `dockfleet:sshHosts`, `dockfleet:aws`,
 * `dockfleet:aliyun` and `dockfleet:virtualbox`, with every default and check of one driver's
 * settings. The stack schema (components/stack/config.ts) wires them in and checks what
 * involves other keys: which driver's settings are required, a publicKey's private half, unique
 * ssh host names, room in the subnet or host-only network for `hosts`.
 */

/** The hosts' own networks: a prefix from /16 to /28, given by the network address. */
const ipv4Cidr = ipv4Network(16, 28, "172.30.10.0/24");

export { cidrContains, parseIpv4Cidr };

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
  } else if (cidrHasHostBits(value)) {
    ctx.addIssue({ code: "custom", message: CIDR_HOST_BITS_MESSAGE });
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

export const LocalDriverConfig = z.strictObject({
  subnet: ipv4Cidr
    .default("172.30.10.0/24")
    .describe("Subnet of the stack's own Docker network; hosts get fixed addresses from .10 on."),
  internal: z
    .boolean()
    .default(false)
    .describe(
      "Hosts get no route out of this machine (Docker's --internal network), as on an " +
        "air-gapped site: packages come only through dockfleet:proxy (listening on the " +
        "subnet's .1, this machine's side of the network). Set it when the stack is " +
        "created: Docker cannot change a network with hosts on it (destroy first).",
    ),
  image: z
    .enum(["base", "docker"])
    .default("base")
    .describe(
      "The host image: base (Debian with systemd and sshd; DockerEngine installs Docker over " +
        "SSH) or docker (the same with Debian's docker.io preinstalled, like kind's or " +
        "boot2docker's; DockerEngine finds the package and only configures Docker). Both are " +
        "built by bin/lib/host-image.sh. docker is meant for engine.source distro: another " +
        "source's packages are still installed over SSH.",
    ),
});

export const SshHostConfig = z.strictObject({
  name: hostName,
  address: hostAddress.describe(
    "Address dockfleet and the operator reach the host at: an IP address or a DNS name (which " +
      "must resolve where `pulumi up` runs; certificates carry it as a DNS SAN).",
  ),
  privateAddress: hostAddress
    .optional()
    .describe(
      "Address other hosts reach it at; an IP address on a host that runs the swarm, etcd or " +
        "the registry, and on every host with etcd.dockerClusterStore (they listen on it or " +
        "advertise it; see docs/drivers/ssh.md); @default address",
    ),
  port: z.int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/)
    .default("root")
    .describe(
      "The login user: root, or a user with passwordless sudo (e.g. " +
        '"deploy ALL=(ALL) NOPASSWD:ALL" in /etc/sudoers.d/deploy), through which every command ' +
        "and file write then runs as root (docs/drivers/ssh.md). A user without it is refused at " +
        "first contact, before anything on the host changes.",
    ),
  hostKey: z
    .string()
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/, {
      message: 'must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA..."',
    })
    .optional()
    .describe(
      'The host\'s public key ("ssh-ed25519 AAAA..."); unset pins the key seen on ' +
        "first contact.",
    ),
  labels: z.record(z.string(), z.string()).default({}),
});

const AwsImageConfig = z.strictObject({
  os: z
    .enum(["debian-12", "ubuntu-22.04"])
    .default("debian-12")
    .describe("Which OS the AMI filter looks for: Debian's or Canonical's own published images."),
  architecture: z
    .enum(["x86_64", "arm64"])
    .default("x86_64")
    .describe("CPU architecture of the AMI; the instance type must match it."),
  id: z
    .string()
    .regex(/^ami-[0-9a-f]{8,17}$/, { message: 'must be an AMI id, e.g. "ami-0123456789abcdef0"' })
    .optional()
    .describe("A fixed AMI id instead of the filter (the filter then only documents what it was)."),
  owners: z
    .array(
      z.string().regex(/^(\d{12}|self|amazon|aws-marketplace)$/, {
        message: "must be a 12-digit account id, self, amazon or aws-marketplace",
      }),
    )
    .min(1)
    .optional()
    .describe("AMI owners for the filter; @default the os preset's publisher account."),
  nameFilter: z
    .string()
    .min(1)
    .optional()
    .describe("AMI name pattern for the filter (`*` wildcards); @default the os preset's pattern."),
});

export const AwsDriverConfig = z
  .strictObject({
    region: z
      .string()
      .regex(
        /^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d$/,
        { message: 'must be an AWS region code, e.g. "eu-west-1" or "us-east-1"' },
      )
      .describe(
        "AWS region code; credentials come from the usual AWS_* variables or profiles, " +
          "never here.",
      ),
    adminCidrs: z
      .array(adminCidr)
      .min(1)
      .describe("Networks allowed to reach SSH (22) and the Docker API; required, no 0.0.0.0/0."),
    vpcCidr: ipv4Cidr
      .default("10.70.0.0/16")
      .describe("A new VPC's address range (used unless vpcId is set)."),
    subnetCidr: ipv4Cidr
      .default("10.70.1.0/24")
      .describe("The new public subnet's range, inside vpcCidr."),
    availabilityZone: z
      .string()
      .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, {
        message: 'must be a zone name, e.g. "eu-west-1a"',
      })
      .optional()
      .describe("Zone of the new subnet; @default AWS chooses."),
    vpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]{8,17}$/, { message: 'must be a VPC id, e.g. "vpc-0123456789abcdef0"' })
      .optional()
      .describe("An existing VPC, with subnetId: nothing network-wide is created then."),
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
        encrypted: z
          .boolean()
          .default(true)
          .describe("EBS encryption with the account's default KMS key."),
      })
      .default({ sizeGb: 20, type: "gp3", encrypted: true }),
    elasticIps: z
      .boolean()
      .default(false)
      .describe("Give every host an Elastic IP (a fixed public address that outlives stop/start)."),
    connectVia: z
      .enum(["public", "private"])
      .default("public")
      .describe(
        "Which address dockfleet's SSH and the Docker client use: public, or private " +
          "over a VPN.",
      ),
    tags: cloudTags,
    publicKey: openSshPublicKey
      .optional()
      .describe(
        "Your own public key for the hosts (then dockfleet:sshPrivateKey is its private " +
          "half).",
      ),
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

export const AliyunDriverConfig = z
  .strictObject({
    region: z
      .string()
      .regex(/^[a-z]{2}-[a-z]+(-[a-z]+)?(-\d+)?$/, {
        message: 'must be an Alibaba Cloud region id, e.g. "cn-hangzhou" or "ap-southeast-1"',
      })
      .describe(
        "Region id; credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET, never " +
          "from here.",
      ),
    zoneId: z
      .string()
      .regex(/^[a-z]{2}-[a-z]+(-[a-z]+)?(-\d+)?-?[a-z0-9]+$/, {
        message: 'must be a zone id, e.g. "cn-hangzhou-h"',
      })
      .optional()
      .describe("Zone of the VSwitch; @default the first zone that offers instanceType."),
    adminCidrs: z
      .array(adminCidr)
      .min(1)
      .describe("Networks allowed to reach SSH (22) and the Docker API; required, no 0.0.0.0/0."),
    vpcCidr: ipv4Cidr.default("10.80.0.0/16"),
    vswitchCidr: ipv4Cidr.default("10.80.1.0/24").describe("The VSwitch's range, inside vpcCidr."),
    instanceType: z
      .string()
      .regex(/^ecs\.[a-z0-9-]+\.[a-z0-9]+$/, {
        message: 'must be an ECS instance type, e.g. "ecs.t6-c1m2.large"',
      })
      .default("ecs.t6-c1m2.large"),
    image: z
      .strictObject({
        nameRegex: z
          .string()
          .min(1)
          .default("^debian_12_\\d+_x64_20G_alibase_\\d+\\.vhd$")
          .describe("Regular expression on the public image names; the newest match is used."),
        owners: z.enum(["system", "self", "others", "marketplace"]).default("system"),
        id: z.string().min(1).optional().describe("A fixed image id instead of the filter."),
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
    internetMaxBandwidthOut: z
      .int()
      .min(0)
      .max(200)
      .default(10)
      .describe("Public bandwidth in Mbit/s (pay by traffic); 0 gives no public address."),
    connectVia: z.enum(["public", "private"]).default("public"),
    osMirror: z
      .union([httpUrl("https://mirror.example.com"), z.literal("none")])
      .default("https://mirrors.aliyun.com")
      .describe('OS package mirror written into the hosts\' apt sources at first boot, or "none".'),
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

/** Where a VM driver keeps its files: relative to the project, out of the system's directories. */
function workDir(fallback: string, what: string) {
  return z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      // VMs and seed ISOs are written there: kept out of the system's directories.
      const reason = value.startsWith("/")
        ? unsafePathReason(value)
        : value.split("/").some((segment) => segment === "..")
          ? 'must not contain ".." segments: give the directory itself'
          : undefined;
      if (reason !== undefined) ctx.addIssue({ code: "custom", message: reason });
    })
    .default(fallback)
    .describe(`Where ${what}; relative to the project.`);
}

export const VirtualBoxDriverConfig = z.strictObject({
  image: z
    .string()
    .regex(/\.(ova|ovf)$/i, {
      message: 'must be the path of an .ova or .ovf file, e.g. "images/debian-12-cloud.ova"',
    })
    .describe(
      "The base image: an .ova/.ovf with cloud-init (a cloud image, or a Vagrant " +
        "box's box.ovf).",
    ),
  memoryMb: z.int().min(512).max(65536).default(2048),
  cpus: z.int().min(1).max(32).default(2),
  hostOnlyCidr: z
    .string()
    .refine((value) => cidrContains(VIRTUALBOX_HOST_ONLY_RANGE, value), {
      message: `must be an IPv4 CIDR inside ${VIRTUALBOX_HOST_ONLY_RANGE}, the range VirtualBox allows for host-only networks by default (e.g. "192.168.56.0/24")`,
    })
    .default("192.168.56.0/24")
    .describe("The host-only network: the host takes .1, VMs get fixed addresses from .10."),
  hostOnlyAdapter: z
    .string()
    .regex(/^vboxnet\d+$/, { message: 'must be a host-only interface name, e.g. "vboxnet0"' })
    .default("vboxnet0")
    .describe(
      "The host-only interface to use (created when missing; VirtualBox numbers them " +
        "vboxnet0, 1...).",
    ),
  sshPortBase: z
    .int()
    .min(1024)
    .max(65000)
    .default(2222)
    .describe("VM i (from 0) forwards 127.0.0.1:<sshPortBase + i> to its port 22 over NAT."),
  storageController: z
    .string()
    .min(1)
    .default("SATA Controller")
    .describe(
      "The storage controller of the imported image that the cloud-init seed ISO is " +
        "attached to.",
    ),
  workDir: workDir(".dockfleet/virtualbox", "VMs and seed ISOs are kept (VBoxManage --basefolder)"),
});

export const QemuDriverConfig = z.strictObject({
  subnet: ipv4Cidr
    .default("172.30.20.0/24")
    .describe(
      "The VMs' network, on a bridge dockfleet creates (this machine takes .1 and NATs it); " +
        "VMs get fixed addresses from .10 on.",
    ),
  cpus: z.int().min(1).max(32).default(1).describe("Virtual CPUs per VM."),
  memoryMb: z.int().min(256).max(65536).default(1024).describe("Memory per VM in MiB."),
  accelerator: z
    .enum(["auto", "kvm", "tcg"])
    .default("auto")
    .describe(
      "kvm (hardware), tcg (software emulation, slow) or auto: KVM when a probe boot through " +
        "/dev/kvm works, else tcg (said in the log).",
    ),
  workDir: workDir(".dockfleet/qemu", "overlays, seeds, consoles and QMP sockets are kept"),
});

export type QemuDriverConfig = z.infer<typeof QemuDriverConfig>;
export type SshHostConfig = z.infer<typeof SshHostConfig>;
export type AwsDriverConfig = z.infer<typeof AwsDriverConfig>;
export type AliyunDriverConfig = z.infer<typeof AliyunDriverConfig>;
export type VirtualBoxDriverConfig = z.infer<typeof VirtualBoxDriverConfig>;
