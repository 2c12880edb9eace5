import type * as pulumi from "@pulumi/pulumi";
import {
  type MachineDriver,
  requireDriverSettings,
  type ServicePorts,
  type SshKey,
  userOrGeneratedKey,
} from "../driver";
import type { Machine } from "../machine";

/** What a cloud driver's component is given (AwsMachines, AliyunMachines). */
export interface CloudMachinesArgs<Config> {
  /** Stack name: in every resource's name and the dockfleet.io/stack tag, so stacks never collide. */
  stack: string;
  /** How many instances. */
  count: number;
  /** Hosts are named `<namePrefix>-1` ... */
  namePrefix: string;
  /** The driver's validated settings (`dockfleet:aws`, `dockfleet:aliyun`). */
  config: Config;
  /** The services' ports: the Docker API's opened to the admin networks, the others to members. */
  ports: ServicePorts;
  /** The environment's key: the public half becomes the cloud key pair, the private half logs in. */
  sshKey: SshKey;
}

/**
 * The contract of a cloud driver: its settings under `dockfleet:<key>`, the operator's key (with
 * `publicKey`) or the generated one, and its component making the instances.
 */
export function cloudDriver<Config extends { publicKey?: string }>(
  key: "aws" | "aliyun",
  Machines: new (
    name: string,
    args: CloudMachinesArgs<Config>,
    opts?: pulumi.ComponentResourceOptions,
  ) => { machines: Machine[] },
): MachineDriver {
  return {
    createMachines(request) {
      const { name, parent, stack, settings } = request;
      const config = requireDriverSettings(key, settings[key] as Config | undefined);
      const sshKey = userOrGeneratedKey(request, key, config.publicKey);
      const created = new Machines(
        name,
        {
          stack,
          count: settings.count,
          namePrefix: settings.namePrefix,
          config,
          ports: settings.ports,
          sshKey,
        },
        { parent },
      );
      return { machines: created.machines, sshPrivateKey: sshKey.privateKey };
    },
  };
}
