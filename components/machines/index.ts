// The driver schemas stay internal (the stack schema uses them); their types and helpers are public.
export {
  type AliyunDriverConfig,
  type AwsDriverConfig,
  cidrContains,
  parseIpv4Cidr,
  type SshHostConfig,
  VIRTUALBOX_HOST_ONLY_RANGE,
  type VirtualBoxDriverConfig,
} from "./config";
export * from "./local/local-machines";
export * from "./machine";
export * from "./ssh/ssh-machines";
