import * as fs from "node:fs";
import * as os from "node:os";
import { runDocker } from "../components/machines/local/docker-cli";

/**
 * CPU accounting for one benchmark step: this process and every child it has waited for (the
 * Pulumi CLI, and through it the language host, the providers and their docker/ssh commands), the
 * host containers' cgroups (apt, dpkg, sshd, dockerd inside them), and the whole machine's busy
 * time from /proc/stat, which also counts everyone else's work on a shared machine.
 */

const CLOCK_TICKS_PER_SECOND = 100;

/** utime+stime of this process and cutime+cstime of its reaped children, in seconds. */
export function processTreeCpuSeconds(): number {
  const stat = fs.readFileSync("/proc/self/stat", "utf8");
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((index) => Number(fields[index]));
  return (utime + stime + cutime + cstime) / CLOCK_TICKS_PER_SECOND;
}

/** Busy (non-idle, non-iowait) CPU seconds of the whole machine since boot. */
export function machineBusyCpuSeconds(): number {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND;
}

/** Where the engine keeps a container's CPU usage in nanoseconds (cgroup v1 or v2). */
function containerCpuUsageFile(containerId: string): string | undefined {
  const candidates = [
    `/sys/fs/cgroup/cpuacct/docker/${containerId}/cpuacct.usage`,
    `/sys/fs/cgroup/cpu,cpuacct/docker/${containerId}/cpuacct.usage`,
    `/sys/fs/cgroup/system.slice/docker-${containerId}.scope/cpu.stat`,
    `/sys/fs/cgroup/docker/${containerId}/cpu.stat`,
  ];
  return candidates.find((file) => fs.existsSync(file));
}

function readContainerCpuSeconds(containerId: string): number {
  const file = containerCpuUsageFile(containerId);
  if (file === undefined) return 0;
  const text = fs.readFileSync(file, "utf8");
  if (file.endsWith("cpuacct.usage")) return Number(text.trim()) / 1e9;
  const usage = /^usage_usec (\d+)$/m.exec(text);
  return usage ? Number(usage[1]) / 1e6 : 0;
}

/** Full ids of the containers labelled dockfleet.io/stack=<stack> (running or not). */
export async function stackContainerIds(stack: string): Promise<string[]> {
  const ids = await runDocker([
    "ps",
    "--all",
    "--quiet",
    "--no-trunc",
    "--filter",
    `label=dockfleet.io/stack=${stack}`,
  ]);
  return ids.split("\n").filter(Boolean);
}

/** Total CPU seconds the containers of a stack have used since they started. */
export async function stackContainersCpuSeconds(stack: string): Promise<number> {
  const ids = await stackContainerIds(stack);
  return ids.reduce((total, id) => total + readContainerCpuSeconds(id), 0);
}

export interface CpuSample {
  wallSeconds: number;
  /** This process tree plus the stack's containers. */
  cpuSeconds: number;
  /** The whole machine's busy time over the same interval (others' load included). */
  machineBusySeconds: number;
}

/**
 * Starts measuring; `finish()` must be called while the stack's containers still exist (before
 * they are destroyed), since their CPU usage goes with them.
 */
export async function startCpuMeasure(stack: string): Promise<{ finish(): Promise<CpuSample> }> {
  const started = process.hrtime.bigint();
  const processBefore = processTreeCpuSeconds();
  const machineBefore = machineBusyCpuSeconds();
  const containersBefore = await stackContainersCpuSeconds(stack);
  return {
    async finish() {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const processCpu = processTreeCpuSeconds() - processBefore;
      const machineBusySeconds = machineBusyCpuSeconds() - machineBefore;
      const containersCpu = (await stackContainersCpuSeconds(stack)) - containersBefore;
      return {
        wallSeconds,
        cpuSeconds: processCpu + Math.max(0, containersCpu),
        machineBusySeconds,
      };
    },
  };
}

/** What the report says about the machine. */
export function describeMachine(): {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  os: string;
} {
  let osName = os.type();
  try {
    osName =
      /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1] ??
      osName;
  } catch {
    // keep os.type()
  }
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown CPU",
    cores: os.cpus().length,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: os.release(),
    os: osName,
  };
}
