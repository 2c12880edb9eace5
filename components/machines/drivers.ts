/* eslint-disable @typescript-eslint/no-require-imports */
import type { MachineDriver } from "./driver";

/** The driver names `dockfleet:driver` takes. */
export type DriverName = "local" | "ssh" | "aws" | "aliyun" | "virtualbox" | "qemu";

/**
 * Every driver by name. Each is loaded when chosen: the cloud drivers bring the AWS and Alibaba
 * Cloud SDKs, about a second of CPU that a local `up` need not pay.
 */
const DRIVERS: Record<DriverName, () => MachineDriver> = {
  local: () =>
    (require("./local/local-machines") as typeof import("./local/local-machines")).localDriver,
  ssh: () => (require("./ssh/ssh-machines") as typeof import("./ssh/ssh-machines")).sshDriver,
  aws: () => (require("./cloud/aws") as typeof import("./cloud/aws")).awsDriver,
  aliyun: () => (require("./cloud/aliyun") as typeof import("./cloud/aliyun")).aliyunDriver,
  virtualbox: () =>
    (
      require("./virtualbox/virtualbox-machines") as typeof import("./virtualbox/virtualbox-machines")
    ).virtualBoxDriver,
  qemu: () => (require("./qemu/qemu-machines") as typeof import("./qemu/qemu-machines")).qemuDriver,
};

export function machineDriver(name: DriverName): MachineDriver {
  return DRIVERS[name]();
}
