import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../../provision/dynamic/log";
import { LocalHost } from "./host-container";
import { readInotifyInstanceLimit, requireInotifyInstances } from "./host-limits";
import { LocalNetwork } from "./network";
import { planLocalHosts } from "./run-args";
import type { Machine } from "../machine";
import type { DriverSettings, MachineDriver } from "../driver";

export interface LocalMachinesArgs {
  /** Stack name: in every container, volume and network name and label, so stacks never collide. */
  stack: string;
  /** How many hosts. */
  count: number;
  /** Hosts are named `<namePrefix>-1` ... */
  namePrefix: string;
  /** The stack network's subnet; hosts get fixed addresses from .10 on. */
  subnet: string;
  /** No route out of this machine (Docker's --internal network). @default false */
  internal?: boolean;
  /** The host image (systemd + sshd), as built by bin/lib/host-image.sh. */
  image: string;
  /** The environment's key pair: the public half is authorized on every host. */
  sshKey: { publicKey: pulumi.Input<string>; privateKey: pulumi.Input<string> };
}

/**
 * The local driver: hosts as system containers on the local Docker engine, like kind or
 * minikube's docker driver, on a network of their own with fixed addresses.
 */
export class LocalMachines extends pulumi.ComponentResource {
  readonly machines: Machine[];

  constructor(name: string, args: LocalMachinesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:machines:LocalMachines", name, {}, opts);
    const planned = planLocalHosts(args);
    const network = new LocalNetwork(
      `${name}-network`,
      // `internal` only when set, so that networks from before it existed see no change.
      { stack: args.stack, subnet: args.subnet, ...(args.internal ? { internal: true } : {}) },
      { parent: this },
    );
    this.machines = planned.map((host) => {
      const container = new LocalHost(
        `${name}-${host.name}`,
        {
          stack: args.stack,
          name: host.name,
          image: args.image,
          network: network.networkName,
          ipv4Address: host.ipv4Address,
          authorizedKey: args.sshKey.publicKey,
          privateKey: args.sshKey.privateKey,
          logUrn: logUrnOf(this),
        },
        { parent: this },
      );
      const address = container.ipv4Address;
      return {
        name: host.name,
        driver: "local",
        publicAddress: address,
        privateAddress: address,
        ssh: pulumi.secret(
          pulumi
            .all([address, container.hostKey, args.sshKey.privateKey])
            .apply(([hostAddress, hostKey, privateKey]) => ({
              host: hostAddress,
              port: 22,
              user: "root",
              privateKey,
              hostKey,
            })),
        ),
        labels: { "dockfleet.io/driver": "local" },
      };
    });
    this.registerOutputs({ machines: this.machines.map((machine) => machine.name) });
  }
}

/** Pure: the tag of the image local.image names, from the tags bin/up exported; throws without it. */
export function localHostImage(
  settings: Pick<DriverSettings, "local" | "hostImage" | "dockerHostImage">,
): string {
  const preinstalled = settings.local.image === "docker";
  const image = preinstalled ? settings.dockerHostImage : settings.hostImage;
  if (image === undefined) {
    const [variable, variant] = preinstalled
      ? ["DOCKFLEET_DOCKER_HOST_IMAGE", " docker"]
      : ["DOCKFLEET_HOST_IMAGE", ""];
    throw new Error(
      `the local driver needs the host image${preinstalled ? " with Docker preinstalled (local.image docker)" : ""}: ` +
        `run \`npm run up\` (bin/up builds it), or set ${variable} to the tag printed by ` +
        `\`source bin/lib/host-image.sh && ensure_host_image${variant}\``,
    );
  }
  return image;
}

/** The local driver's contract: the environment's generated key, the host image built by bin/up. */
export const localDriver: MachineDriver = {
  createMachines({ name, parent, stack, settings, generatedKey }) {
    const image = localHostImage(settings);
    requireInotifyInstances(settings.count, readInotifyInstanceLimit());
    const sshKey = generatedKey();
    const local = new LocalMachines(
      name,
      {
        stack,
        count: settings.count,
        namePrefix: settings.namePrefix,
        subnet: settings.local.subnet,
        internal: settings.local.internal,
        image,
        sshKey,
      },
      { parent },
    );
    return { machines: local.machines, sshPrivateKey: sshKey.privateKey };
  },
};
