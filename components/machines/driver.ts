import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type {
  AliyunDriverConfig,
  AwsDriverConfig,
  LocalDriverConfig as LocalDriverSchema,
  SshHostConfig,
  VirtualBoxDriverConfig,
  QemuDriverConfig,
} from "./config";
import type { Machine } from "./machine";

/**
 * The contract every driver implements (libmachine's Driver, kind's Provider), as small as it can
 * be: make the environment's hosts and say how to log in to them. Everything after a driver sees
 * only `Machine`s.
 */
export interface MachineDriver {
  /** Creates the hosts, as children of `request.parent`. */
  createMachines(request: DriverRequest): DriverMachines;
}

/** What a driver is asked for: the validated stack settings it reads, and the environment's keys. */
export interface DriverRequest {
  /** Prefix of the resource names ("<environment>-machines"). */
  name: string;
  /** The component the driver's resources belong to. */
  parent: pulumi.Resource;
  /** The stack's name: names and labels what the local driver creates. */
  stack: string;
  settings: DriverSettings;
  /** The key pair dockfleet generates for the environment (one, made on the first call). */
  generatedKey(): SshKey;
  /**
   * The operator's own private key (`dockfleet:sshPrivateKey`); fails naming `who` and how to set
   * it when there is none.
   */
  givenPrivateKey(who: string): pulumi.Output<string>;
}

/**
 * The ports the environment's services listen on, as the stack configures them (engine.tlsPort,
 * swarm.port, etcd.clientPort and peerPort, registry.port): cloud firewalls follow them.
 */
export interface ServicePorts {
  dockerApi: number;
  swarm: number;
  etcdClient: number;
  etcdPeer: number;
  registry: number;
}

/** The stack settings drivers read, as machines/config.ts validates them. */
export interface DriverSettings {
  /** How many hosts the local, aws, aliyun and virtualbox drivers make. */
  count: number;
  /** Hosts are named `<namePrefix>-1` ... */
  namePrefix: string;
  /** The services' ports as configured: cloud firewalls open them (the Docker API's to the admin CIDR). */
  ports: ServicePorts;
  local: z.infer<typeof LocalDriverSchema>;
  sshHosts: SshHostConfig[];
  aws?: AwsDriverConfig;
  aliyun?: AliyunDriverConfig;
  virtualbox?: VirtualBoxDriverConfig;
  qemu: QemuDriverConfig;
  /** Qemu driver: the VM image's folder (bin/lib/vm-image.sh builds it). */
  vmImage?: string;
  /** Local driver: the host image tag (bin/lib/host-image.sh builds it). */
  hostImage?: string;
  /** Local driver, `image: docker`: the tag of the image with Docker preinstalled. */
  dockerHostImage?: string;
}

export interface SshKey {
  publicKey: pulumi.Input<string>;
  privateKey: pulumi.Output<string>;
}

/** A driver's hosts and the private key (a Pulumi secret) that logs in to them. */
export interface DriverMachines {
  machines: Machine[];
  sshPrivateKey: pulumi.Output<string>;
}

/** A driver's own settings; the stack schema already refuses a stack without them. */
export function requireDriverSettings<T>(driver: string, value: T | undefined): T {
  if (value === undefined) {
    throw new Error(`dockfleet:${driver} is required when driver is "${driver}"`);
  }
  return value;
}

/**
 * Cloud drivers: the operator's own public key (with `dockfleet:sshPrivateKey` as its private
 * half), or the generated key pair.
 */
export function userOrGeneratedKey(
  request: DriverRequest,
  driver: string,
  publicKey: string | undefined,
): SshKey {
  if (publicKey === undefined) return request.generatedKey();
  return { publicKey, privateKey: request.givenPrivateKey(`${driver}.publicKey`) };
}
