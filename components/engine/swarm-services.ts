/**
 * Pure: reading swarm services' replica counts, as `docker service ls` and `docker stack
 * services` print them with SERVICE_REPLICAS_FORMAT ("app_web 2/3", "app_agent 1/1 (max 1 per
 * node)"). A stack deploy waits on them, and so does a rolling restart of a swarm's hosts.
 */

/** The format both listings take here: the service's name, then its replicas running/wanted. */
export const SERVICE_REPLICAS_FORMAT = "'{{.Name}} {{.Replicas}}'";

/** Every service of the swarm, one line each in SERVICE_REPLICAS_FORMAT (run on a manager). */
export const LIST_SERVICES = `docker service ls --format ${SERVICE_REPLICAS_FORMAT}`;

const REPLICAS = /^(\S+)\s+(\d+)\/(\d+)/;

interface ServiceLine {
  /** The line as listed, trimmed (what to print). */
  line: string;
  name: string;
  /** undefined: the line has no "running/wanted" count. */
  replicas?: { running: number; wanted: number };
}

/** The listing's non-empty lines, each with its service's name and counts where it has them. */
function serviceLines(lines: string): ServiceLine[] {
  return lines
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const match = REPLICAS.exec(line);
      if (match === null) return { line, name: line.split(/\s/)[0]! };
      return { line, name: match[1]!, replicas: { running: +match[2]!, wanted: +match[3]! } };
    });
}

/** Whether the line's service runs every replica it wants (a line without a count does not). */
function converged({ replicas }: ServiceLine): boolean {
  return replicas !== undefined && replicas.running === replicas.wanted;
}

/**
 * The services below their replica count (and any line without a count), as their lines: what
 * to wait for, and to print.
 */
export function servicesNotConverged(lines: string): string[] {
  return serviceLines(lines)
    .filter((service) => !converged(service))
    .map(({ line }) => line);
}

/** The names of the services running every replica they want (services scaled to 0 are not). */
export function servicesRunning(lines: string): string[] {
  return serviceLines(lines)
    .filter((service) => converged(service) && service.replicas!.wanted > 0)
    .map(({ name }) => name);
}

/**
 * Which of the services that ran all their replicas (`before`) do not now, as lines of
 * LIST_SERVICES. A service removed meanwhile is not waited for, nor one that was not running
 * before (a broken service of the user's must not hold up Docker's configuration).
 */
export function servicesDownSince(before: string[], lines: string): string[] {
  const wanted = new Set(before);
  return serviceLines(lines)
    .filter((service) => wanted.has(service.name) && !converged(service))
    .map(({ line }) => line);
}

/** The replicas running and wanted over all the listed services. */
export function replicaCounts(lines: string): { done: number; total: number } {
  let done = 0;
  let total = 0;
  for (const { replicas } of serviceLines(lines)) {
    if (replicas === undefined) continue;
    done += Math.min(replicas.running, replicas.wanted);
    total += replicas.wanted;
  }
  return { done, total };
}
