import * as pulumi from "@pulumi/pulumi";
import { logUrnOf } from "../../provision/dynamic/log";
import { SshHost } from "./ssh-host";
import type { Machine } from "./machine";

/** A host a driver has just created, as SSH will reach it. */
export interface CreatedHost {
  name: string;
  driver: string;
  publicAddress: pulumi.Input<string>;
  privateAddress: pulumi.Input<string>;
  /** Where SSH connects: one of the addresses, or 127.0.0.1 with a forwarded port. */
  sshAddress: pulumi.Input<string>;
  sshPort: number;
  user: string;
  privateKey: pulumi.Input<string>;
  labels: Record<string, string>;
}

/**
 * The created host as a Machine. First contact (SshHost `resourceName`, a child of `parent`) waits
 * until SSH answers after `dependsOn` (the instance, the rules that admit SSH) and pins the host
 * key that every later connection checks, as docker-machine does for the hosts it creates.
 */
export function machineAfterFirstContact(
  parent: pulumi.ComponentResource,
  resourceName: string,
  host: CreatedHost,
  dependsOn: pulumi.Resource[],
): Machine {
  const login = pulumi.all([host.sshAddress, host.privateKey]).apply(([address, privateKey]) => ({
    host: address,
    port: host.sshPort,
    user: host.user,
    privateKey,
  }));
  const reached = new SshHost(
    resourceName,
    { host: host.name, connection: login, logUrn: logUrnOf(parent) },
    { parent, dependsOn },
  );
  return {
    name: host.name,
    driver: host.driver,
    publicAddress: pulumi.output(host.publicAddress),
    privateAddress: pulumi.output(host.privateAddress),
    ssh: pulumi.secret(
      pulumi.all([login, reached.hostKey]).apply(([connection, hostKey]) => ({
        ...connection,
        hostKey,
      })),
    ),
    labels: host.labels,
  };
}
