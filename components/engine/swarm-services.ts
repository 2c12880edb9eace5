/**
 * Pure: reading swarm services' replica counts, as `docker service ls` and `docker stack
 * services` print them with SERVICE_REPLICAS_FORMAT ("app_web 2/3", "app_agent 1/1 (max 1 per
 * node)"). A stack deploy waits on them, and so does a rolling restart of a swarm's hosts.
 */

/** The format both listings take here: the service's name, then its replicas running/wanted. */
export const SERVICE_REPLICAS_FORMAT = "'{{.Name}} {{.Replicas}}'";

const REPLICAS = /^(\S+)\s+(\d+)\/(\d+)/;

/** The services below their replica count, as their lines (what to wait for, and to print). */
export function servicesNotConverged(lines: string): string[] {
  return lines
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .filter((line) => {
      const match = REPLICAS.exec(line);
      return match === null || match[2] !== match[3];
    });
}

/** The names of the services running every replica they want (services scaled to 0 are not). */
export function servicesRunning(lines: string): string[] {
  return lines
    .split("\n")
    .map((line) => REPLICAS.exec(line.trim()))
    .filter((match) => match !== null && match[2] === match[3] && match[3] !== "0")
    .map((match) => match![1]!);
}

/** The replicas running and wanted over all the listed services. */
export function replicaCounts(lines: string): { done: number; total: number } {
  let done = 0;
  let total = 0;
  for (const line of lines.split("\n")) {
    const match = REPLICAS.exec(line.trim());
    if (match === null) continue;
    done += Math.min(Number(match[2]), Number(match[3]));
    total += Number(match[3]);
  }
  return { done, total };
}
