import { execFile } from "node:child_process";
import { docker, runCommand, DOCKER_CLI } from "./docker";

/** Where a host's watcher keeps what it saw (tmpfs in a host container) and its loop's PID. */
const HOST_LOG = "/run/dockfleet-argv-watch.log";
const HOST_PID = "/run/dockfleet-argv-watch.pid";
const INTERVAL_MS = 100;

/**
 * Samples every process's command line (`ps -eo args`) every 100 ms, on this machine and in each
 * host container as soon as it runs, keeping each distinct line: what any user could have seen
 * in `ps` while a deployment ran. The hosts sample themselves (a loop in the container), so a
 * short-lived command there is seen however slow `docker exec` is here.
 */
export class ArgvWatcher {
  readonly local = new Set<string>();
  private readonly watched = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private sampling = false;

  /** containers: the host containers to watch once they run (they may not exist yet). */
  constructor(private readonly containers: string[]) {}

  start(): void {
    this.timers.push(setInterval(() => this.sampleLocal(), INTERVAL_MS));
    this.timers.push(setInterval(() => void this.watchNewHosts(), 500));
  }

  /**
   * Stops sampling; resolves with the distinct lines seen here and on each watched host. Safe to
   * call again (an `after` hook that cleans up after a failed test).
   */
  async stop(): Promise<{ local: Set<string>; hosts: Map<string, Set<string>> }> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    const containers = [...this.watched];
    this.watched.clear();
    const hosts = new Map<string, Set<string>>();
    for (const container of containers) {
      await runCommand(DOCKER_CLI, ["exec", container, "sh", "-c", `kill "$(cat ${HOST_PID})"`]);
      const seen = await docker(["exec", container, "sort", "-u", HOST_LOG]);
      hosts.set(container, new Set(seen.split("\n")));
    }
    return { local: this.local, hosts };
  }

  private sampleLocal(): void {
    if (this.sampling) return;
    this.sampling = true;
    execFile("ps", ["-eo", "args"], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      this.sampling = false;
      if (!error) for (const line of stdout.split("\n")) this.local.add(line);
    });
  }

  private async watchNewHosts(): Promise<void> {
    for (const container of this.containers.filter((name) => !this.watched.has(name))) {
      const running = await runCommand(DOCKER_CLI, [
        "inspect",
        "--format",
        "{{.State.Running}}",
        container,
      ]);
      if (running.stdout.trim() !== "true" || this.watched.has(container)) continue;
      this.watched.add(container);
      // One shell, no pipeline: killing it ends the loop.
      await docker([
        "exec",
        "--detach",
        container,
        "sh",
        "-c",
        `echo $$ >${HOST_PID}; while :; do ps -eo args >>${HOST_LOG}; sleep ${INTERVAL_MS / 1000}; done`,
      ]);
    }
  }
}

/**
 * The lines that hold any of the needles: a secret on a command line. Names the needle by its
 * first characters only, so that the failure message does not print the secret either.
 */
export function linesWithSecrets(lines: Iterable<string>, needles: string[]): string[] {
  const found: string[] = [];
  for (const line of lines) {
    const needle = needles.find((candidate) => line.includes(candidate));
    if (needle !== undefined) {
      found.push(
        `a secret (starting ${needle.slice(0, 6)}...) in: ${line.split(needle).join("<secret>")}`,
      );
    }
  }
  return found;
}
