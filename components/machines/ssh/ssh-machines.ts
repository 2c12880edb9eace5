import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../../provision/dynamic/log";
import { SshHost } from "../ssh-host";
import type { SshHostConfig } from "../config";
import type { Machine } from "../machine";
import type { MachineDriver } from "../driver";

export interface SshMachinesArgs {
  /** Hosts you already have, by address, user, port and (optionally) pinned host key. */
  hosts: SshHostConfig[];
  /** The private key that logs in to every host (a Pulumi secret). */
  privateKey: pulumi.Input<string>;
}

/**
 * The ssh driver (docker-machine's generic driver): existing hosts, adopted as they are. Adopting a
 * host only reads it; Docker is then installed by DockerEngine, which leaves what is there alone.
 */
export class SshMachines extends pulumi.ComponentResource {
  readonly machines: Machine[];

  constructor(name: string, args: SshMachinesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:machines:SshMachines", name, {}, opts);
    this.machines = args.hosts.map((host) => {
      const adopted = new SshHost(
        `${name}-${host.name}`,
        {
          host: host.name,
          connection: pulumi.output(args.privateKey).apply((privateKey) => ({
            host: host.address,
            port: host.port,
            user: host.user,
            privateKey,
            hostKey: host.hostKey,
          })),
          logUrn: logUrnOf(this),
        },
        { parent: this },
      );
      return {
        name: host.name,
        driver: "ssh",
        publicAddress: pulumi.output(host.address),
        privateAddress: pulumi.output(host.privateAddress ?? host.address),
        ssh: pulumi.secret(
          pulumi.all([adopted.hostKey, args.privateKey]).apply(([hostKey, privateKey]) => ({
            host: host.address,
            port: host.port,
            user: host.user,
            privateKey,
            hostKey,
          })),
        ),
        labels: { ...host.labels, "dockfleet.io/driver": "ssh" },
      };
    });
    this.registerOutputs({ machines: this.machines.map((machine) => machine.name) });
  }
}

/** The ssh driver's contract: the hosts listed in `dockfleet:sshHosts`, the operator's key. */
export const sshDriver: MachineDriver = {
  createMachines({ name, parent, settings, givenPrivateKey }) {
    const privateKey = givenPrivateKey("the ssh driver");
    const adopted = new SshMachines(name, { hosts: settings.sshHosts, privateKey }, { parent });
    return { machines: adopted.machines, sshPrivateKey: privateKey };
  },
};
