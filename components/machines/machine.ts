import * as pulumi from "@pulumi/pulumi";
import { isIpAddress } from "../../provision/config/addresses";
import { splitSubjectAltNames } from "../../provision/pki/subject-alt-names";

/**
 * What every driver yields per host. Nothing after the driver knows which driver made it
 * (docker-machine's Driver interface, kind's Provider: small on purpose).
 */
export interface Machine {
  /** Host name, unique in the environment ("host-1"). */
  name: string;
  /** Which driver created it: "local", "ssh", "aws", "aliyun", "virtualbox". */
  driver: string;
  /** Address the operator (and the test machine) reaches the host at. */
  publicAddress: pulumi.Output<string>;
  /** Address other hosts reach it at: swarm advertise, etcd peers. */
  privateAddress: pulumi.Output<string>;
  /** SSH connection, host key pinned. The private key inside is a secret. */
  ssh: pulumi.Output<MachineSsh>;
  /** Free-form labels (also written to Docker's daemon labels). */
  labels: Record<string, string>;
}

export interface MachineSsh {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKey: string;
  /** Seconds each kind of remote step on the host may take (SshConnectionArgs.stepTimeouts). */
  stepTimeouts?: Readonly<Record<string, number>>;
  /** Proxy variables for every remote step (SshConnectionArgs.proxyEnvironment). */
  proxyEnvironment?: Readonly<Record<string, string>>;
}

/** What every remote step on a machine runs with, whatever it does. */
export interface StepSettings {
  /** dockfleet:stepTimeouts */
  stepTimeouts: Readonly<Record<string, number>>;
  /** dockfleet:proxy rendered for the environment (renderProxyEnvironment); none without one. */
  proxyEnvironment: pulumi.Input<Readonly<Record<string, string>> | undefined>;
}

/** The machine whose remote steps run with `settings`. */
export function withStepSettings(machine: Machine, settings: StepSettings): Machine {
  return {
    ...machine,
    ssh: pulumi.all([machine.ssh, settings.proxyEnvironment]).apply(([ssh, proxyEnvironment]) => ({
      ...ssh,
      stepTimeouts: settings.stepTimeouts,
      // Left out without a proxy: the connection then reads as before the proxy existed.
      ...(proxyEnvironment && { proxyEnvironment }),
    })),
  };
}

/**
 * The names a server certificate on this machine must carry: both of its addresses (an address
 * given by DNS name as a DNS SAN), loopback, its name and localhost, so that clients reach it by
 * any of them with verification on.
 */
export function machineSubjectAltNames(machine: Machine): {
  ipAddresses: pulumi.Output<string[]>;
  dnsNames: pulumi.Output<string[]>;
} {
  const names = pulumi
    .all([machine.publicAddress, machine.privateAddress])
    .apply((addresses) =>
      splitSubjectAltNames([...addresses, "127.0.0.1", machine.name, "localhost"]),
    );
  return {
    ipAddresses: names.apply((split) => split.ipAddresses),
    dnsNames: names.apply((split) => split.dnsNames),
  };
}

/**
 * Pure: `address`, the private address of machine `machineName`, for `service`, which listens on
 * or advertises it and takes only an IP address there (the swarm's --advertise-addr, etcd's listen
 * URLs, docker's --publish); throws naming the machine when it is a DNS name.
 */
export function requirePrivateIpAddress(
  machineName: string,
  service: string,
  address: string,
): string {
  if (!isIpAddress(address)) {
    throw new Error(
      `${machineName}: ${service} needs the host's private address as an IP address, and it is ` +
        `the DNS name ${JSON.stringify(address)}: give the machine its IP address as privateAddress`,
    );
  }
  return address;
}

/**
 * The machine's private address for `service` (requirePrivateIpAddress). The stack config refuses
 * such hosts before anything is created (components/stack/checks.ts); this stops programs that
 * compose the components themselves before the service's own resources are created.
 */
export function privateIpAddress(machine: Machine, service: string): pulumi.Output<string> {
  return machine.privateAddress.apply((address) =>
    requirePrivateIpAddress(machine.name, service, address),
  );
}
