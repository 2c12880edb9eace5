/**
 * What a timed-out command was doing, from the host's process list: the chain of processes from
 * the command's shell down its deepest branch of descendants, shells left out, e.g.
 * "apt-get -q -y install docker.io > /usr/bin/dpkg --status-fd 35 --configure docker.io".
 */

import { isRootWrapper } from "./as-root";

/** The host's process list, as this command prints it (procps; any failure leaves it unknown). */
export const PROCESS_LIST_COMMAND = "ps -e -o pid=,ppid=,pgid=,etimes=,args=";

interface ProcessEntry {
  pid: number;
  ppid: number;
  pgid: number;
  /** Seconds since it started. */
  elapsed: number;
  args: string;
}

/** A shell that only runs the command's script or a subshell of it: no news in a description. */
const BARE_SHELL = /^-?(\/usr)?(\/bin\/)?(ba|da|z)?sh( -s)?$/;
const MAX_ARGS_LENGTH = 200;

/** Pure: `ps` lines as PROCESS_LIST_COMMAND prints them; unparsable lines are skipped. */
export function parseProcessList(text: string): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const line of text.split("\n")) {
    const match = line.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/);
    if (match) {
      const [, pid, ppid, pgid, elapsed, args] = match;
      entries.push({
        pid: Number(pid),
        ppid: Number(ppid),
        pgid: Number(pgid),
        elapsed: Number(elapsed),
        args: args.replace(/\s+/g, " ").trim(),
      });
    }
  }
  return entries;
}

/**
 * Pure: the processes below the leader of group `processGroupId` (the login shell), down their
 * deepest branch (a pipeline's `tee` is no news; the `apt-get > dpkg > postinst` beside it is),
 * the oldest on a tie (a pipeline's first command, not the `tee` it feeds), joined with " > ",
 * without bare shells and the sudo that carries a command to root; undefined when nothing but
 * those runs. Descendants count whatever their group: a child may start a session of its own.
 */
export function describeProcessGroup(psOutput: string, processGroupId: number): string | undefined {
  const processes = parseProcessList(psOutput);
  const childrenOf = (pid: number) => processes.filter((entry) => entry.ppid === pid);
  const deepest = (entry: ProcessEntry, seen: Set<number>): ProcessEntry[] => {
    seen.add(entry.pid);
    const branches = childrenOf(entry.pid)
      .filter((child) => !seen.has(child.pid))
      .sort((a, b) => b.elapsed - a.elapsed || a.pid - b.pid)
      .map((child) => deepest(child, seen));
    const longest = branches.reduce<ProcessEntry[]>(
      (best, branch) => (branch.length > best.length ? branch : best),
      [],
    );
    return [entry, ...longest];
  };
  const leader = processes.find(
    (entry) => entry.pid === processGroupId && entry.pgid === processGroupId,
  );
  if (leader === undefined) return undefined;
  const descent = deepest(leader, new Set());
  const chain = descent
    .map((entry) => entry.args)
    .filter(
      (args, index) =>
        index > 0 && !BARE_SHELL.test(args) && !isRootWrapper(args, descent[index - 1].args),
    )
    .map((args) => (args.length > MAX_ARGS_LENGTH ? `${args.slice(0, MAX_ARGS_LENGTH)}...` : args));
  return chain.length > 0 ? chain.join(" > ") : undefined;
}
