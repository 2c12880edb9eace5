/**
 * Pure rendering of the Docker CLI arguments behind the local driver: one bridge network per
 * stack, and per host a system container (systemd as PID 1, sshd, room for a nested dockerd) plus
 * a named volume for that inner dockerd's /var/lib/docker. Like kind's `runArgsForNode`: no I/O,
 * unit tests pin the output, providers run it.
 */

/** Label keys on everything the local driver creates, so listing and cleanup need no state. */
export const LOCAL_LABELS = {
  stack: "dockfleet.io/stack",
  host: "dockfleet.io/host",
  component: "dockfleet.io/component",
} as const;

/**
 * Every capability Docker 20.10 knows by name, except SYS_RESOURCE: it is missing from this
 * machine's bounding set, which is also why `--privileged` fails here ("unable to apply caps").
 * BPF, PERFMON and CHECKPOINT_RESTORE are left out because Docker 20.10 rejects those names.
 */
export const HOST_CAPABILITIES: readonly string[] = [
  "AUDIT_CONTROL",
  "AUDIT_READ",
  "AUDIT_WRITE",
  "BLOCK_SUSPEND",
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "IPC_LOCK",
  "IPC_OWNER",
  "KILL",
  "LEASE",
  "LINUX_IMMUTABLE",
  "MAC_ADMIN",
  "MAC_OVERRIDE",
  "MKNOD",
  "NET_ADMIN",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_RAW",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYSLOG",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_CHROOT",
  "SYS_MODULE",
  "SYS_NICE",
  "SYS_PACCT",
  "SYS_PTRACE",
  "SYS_RAWIO",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "WAKE_ALARM",
];

/** A port of the host container published on the machine. */
export interface HostPortPublish {
  /** Port inside the host container, e.g. 2376 for the Docker TLS API. */
  containerPort: number;
  /** Port on the machine. */
  hostPort: number;
  /** @default "tcp" */
  protocol?: "tcp" | "udp";
  /**
   * Machine address to bind. The host's own address on the stack network is reachable from this
   * machine anyway; publishing is for reaching it through another interface.
   * @default "127.0.0.1"
   */
  hostIp?: string;
}

/** One local host container. */
export interface HostRunSpec {
  /** Stack name: prefixes every name and fills the dockfleet.io/stack label. */
  stack: string;
  /** Host name within the stack ("host-1"): a DNS label, also the default hostname. */
  name: string;
  /** Host image tag, as printed by bin/lib/host-image.sh (dockfleet/host:<hash>). */
  image: string;
  /** Docker network to attach to, normally `localResourceNames(stack, name).network`. */
  network: string;
  /** Fixed IPv4 address on that network (inside the subnet it was created with). */
  ipv4Address: string;
  /** @default name */
  hostname?: string;
  /** Extra container labels; the dockfleet.io/ keys are reserved and rejected here. */
  labels?: Record<string, string>;
  /** Ports published on the machine. @default [] */
  publish?: HostPortPublish[];
  /**
   * The machine's kernel modules directory, mounted read-only so the inner dockerd can modprobe
   * (overlay, br_netfilter). Leave unset where the machine has none, as on this one: Docker would
   * create an empty directory on the machine instead. @default undefined (not mounted)
   */
  kernelModulesDir?: string;
}

/** Names of what the local driver creates for one host, computed in one place. */
export interface LocalResourceNames {
  /** The host container: dockfleet-<stack>-<name>. */
  container: string;
  /** The inner dockerd's /var/lib/docker: dockfleet-<stack>-<name>-docker. */
  volume: string;
  /** The stack's bridge network: dockfleet-<stack>. */
  network: string;
}

// Docker's own rule for container, volume and network names.
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// A DNS label (RFC 1123): host names end up as hostnames and in certificates.
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function assertStackName(stack: string): void {
  if (!DOCKER_NAME.test(stack) || stack.length > 100) {
    throw new Error(
      `local driver: stack name ${JSON.stringify(stack)} cannot name Docker objects: ` +
        "use letters, digits, '_', '.' or '-', starting with a letter or digit (at most 100 characters)",
    );
  }
}

function assertHostName(name: string): void {
  if (!DNS_LABEL.test(name)) {
    throw new Error(
      `local driver: host name ${JSON.stringify(name)} is not a DNS label: ` +
        "use lowercase letters, digits and '-', not at either end, at most 63 characters (e.g. \"host-1\")",
    );
  }
}

function assertIpv4(what: string, value: string): void {
  if (!IPV4.test(value)) {
    throw new Error(
      `local driver: ${what} ${JSON.stringify(value)} is not an IPv4 address like "172.30.0.10"`,
    );
  }
}

function assertPort(what: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`local driver: ${what} ${JSON.stringify(port)} is not a port number (1-65535)`);
  }
}

/** The stack's bridge network: dockfleet-<stack>. */
export function localNetworkName(stack: string): string {
  assertStackName(stack);
  return `dockfleet-${stack}`;
}

/** Container, volume and network names of host `name` in `stack`; validates both. */
export function localResourceNames(stack: string, name: string): LocalResourceNames {
  assertStackName(stack);
  assertHostName(name);
  return {
    container: `dockfleet-${stack}-${name}`,
    volume: `dockfleet-${stack}-${name}-docker`,
    network: localNetworkName(stack),
  };
}

function hostLabels(stack: string, name: string): string[] {
  return [
    `--label=${LOCAL_LABELS.stack}=${stack}`,
    `--label=${LOCAL_LABELS.host}=${name}`,
    `--label=${LOCAL_LABELS.component}=host`,
  ];
}

function renderPublish(publish: HostPortPublish): string {
  assertPort("published container port", publish.containerPort);
  assertPort("published host port", publish.hostPort);
  const hostIp = publish.hostIp ?? "127.0.0.1";
  assertIpv4("published host address", hostIp);
  return `--publish=${hostIp}:${publish.hostPort}:${publish.containerPort}/${publish.protocol ?? "tcp"}`;
}

/**
 * The arguments after `docker run` that start one host container, detached; stdout is its id.
 * What each group is for:
 * - capabilities, unconfined seccomp/AppArmor and the device rule: what `--privileged` would
 *   give, which this machine refuses; systemd mounts and the inner dockerd makes namespaces,
 *   iptables rules and device nodes.
 * - host cgroup namespace + /sys/fs/cgroup rw: systemd and the inner runc manage cgroups below
 *   the container's own (this machine has cgroup v1).
 * - tmpfs /run and /run/lock: systemd expects them empty and in memory at boot.
 * - a named volume on /var/lib/docker: overlay2 cannot stack on the container's overlay root.
 * - --stop-signal=SIGRTMIN+3: systemd's clean shutdown (Docker 20.10's import cannot put
 *   STOPSIGNAL into the image); --restart=unless-stopped brings hosts back with the engine.
 */
export function renderHostRunArgs(spec: HostRunSpec): string[] {
  const names = localResourceNames(spec.stack, spec.name);
  const hostname = spec.hostname ?? spec.name;
  if (!HOSTNAME.test(hostname)) {
    throw new Error(
      `local driver: hostname ${JSON.stringify(hostname)} of host ${spec.name} is not a valid hostname: ` +
        "use lowercase DNS labels joined by dots",
    );
  }
  if (!DOCKER_NAME.test(spec.network)) {
    throw new Error(
      `local driver: network name ${JSON.stringify(spec.network)} is not a Docker object name`,
    );
  }
  assertIpv4(`address of host ${spec.name}`, spec.ipv4Address);
  if (spec.image.trim() === "") {
    throw new Error(
      `local driver: host ${spec.name} has no image: pass the tag printed by bin/lib/host-image.sh`,
    );
  }
  const extraLabels = Object.entries(spec.labels ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  for (const [key] of extraLabels) {
    if (key.startsWith("dockfleet.io/")) {
      throw new Error(
        `local driver: label ${JSON.stringify(key)} on host ${spec.name} is reserved: dockfleet sets the dockfleet.io/ labels itself`,
      );
    }
  }
  return [
    "--detach",
    `--name=${names.container}`,
    `--hostname=${hostname}`,
    `--network=${spec.network}`,
    `--ip=${spec.ipv4Address}`,
    ...HOST_CAPABILITIES.map((capability) => `--cap-add=${capability}`),
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "--cgroupns=host",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs=/run",
    "--tmpfs=/run/lock",
    `--volume=${names.volume}:/var/lib/docker`,
    ...(spec.kernelModulesDir === undefined
      ? []
      : [`--volume=${spec.kernelModulesDir}:/lib/modules:ro`]),
    ...(spec.publish ?? []).map(renderPublish),
    "--env=container=docker",
    "--stop-signal=SIGRTMIN+3",
    "--restart=unless-stopped",
    ...hostLabels(spec.stack, spec.name),
    ...extraLabels.map(([key, value]) => `--label=${key}=${value}`),
    spec.image,
  ];
}

/** `docker volume create ...` (subcommand included) for the host's /var/lib/docker volume. */
export function renderHostVolumeCreateArgs(spec: { stack: string; name: string }): string[] {
  const names = localResourceNames(spec.stack, spec.name);
  return ["volume", "create", ...hostLabels(spec.stack, spec.name), names.volume];
}

/**
 * `docker network create ...` (subcommand included) for the stack's bridge network. Hosts get
 * fixed addresses in `subnet`; the machine reaches them directly and they reach the Debian
 * mirror through Docker's NAT, or, `internal`, nothing beyond this machine.
 */
export function renderNetworkCreateArgs(spec: {
  stack: string;
  subnet: string;
  internal?: boolean;
}): string[] {
  assertStackName(spec.stack);
  const [address, prefix, ...rest] = spec.subnet.split("/");
  const prefixLength = Number(prefix);
  if (
    rest.length > 0 ||
    address === undefined ||
    !IPV4.test(address) ||
    !/^\d+$/.test(prefix ?? "") ||
    prefixLength < 8 ||
    prefixLength > 29
  ) {
    throw new Error(
      `local driver: subnet ${JSON.stringify(spec.subnet)} of stack ${spec.stack} is not an IPv4 CIDR ` +
        'between /8 and /29, like "172.30.21.0/24"',
    );
  }
  return [
    "network",
    "create",
    "--driver=bridge",
    ...(spec.internal ? ["--internal"] : []),
    `--subnet=${spec.subnet}`,
    `--label=${LOCAL_LABELS.stack}=${spec.stack}`,
    `--label=${LOCAL_LABELS.component}=network`,
    localNetworkName(spec.stack),
  ];
}

export interface PlannedLocalHost {
  name: string;
  ipv4Address: string;
}

/** Pure: every host's name and fixed address, worked out before anything is created. */
export function planLocalHosts(args: { count: number; namePrefix: string; subnet: string }) {
  const [network, bits] = args.subnet.split("/");
  const base = network.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  const firstHostOffset = 10;
  if (firstHostOffset + args.count >= size - 1) {
    throw new Error(
      `subnet ${args.subnet} holds ${Math.max(0, size - 2 - firstHostOffset)} hosts from .${firstHostOffset} on, ` +
        `not ${args.count}: choose a larger subnet (dockfleet:local.subnet)`,
    );
  }
  return Array.from({ length: args.count }, (_, index): PlannedLocalHost => {
    const address = base + firstHostOffset + index;
    return {
      name: `${args.namePrefix}-${index + 1}`,
      ipv4Address: [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join("."),
    };
  });
}
