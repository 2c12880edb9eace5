import * as fs from "node:fs";

/**
 * inotify instances one host container takes from the machine's per-user limit (all containers
 * run as the same root): systemd, journald, logind, udev and dockerd inside it; 8 measured, with
 * room. The limit is per user, not per container, so Debian's default of 128 stops the 13th host:
 * its systemd starts without the units that watch files, and sshd never answers (kind meets the
 * same limit with its node containers).
 */
export const INOTIFY_INSTANCES_PER_HOST = 10;

const INOTIFY_LIMIT_FILE = "/proc/sys/fs/inotify/max_user_instances";

/** The machine's fs.inotify.max_user_instances, or undefined where it cannot be read. */
export function readInotifyInstanceLimit(file = INOTIFY_LIMIT_FILE): number | undefined {
  try {
    const value = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Pure: throws, with the fix, when `hosts` host containers would not all boot under `limit`. */
export function requireInotifyInstances(hosts: number, limit: number | undefined): void {
  const needed = hosts * INOTIFY_INSTANCES_PER_HOST;
  if (limit === undefined || limit >= needed) return;
  throw new Error(
    `hosts: ${hosts} local hosts need about ${needed} inotify instances, and this machine allows ` +
      `${limit} (fs.inotify.max_user_instances): the hosts past the first ` +
      `${Math.floor(limit / INOTIFY_INSTANCES_PER_HOST)} would boot without sshd. Raise it with ` +
      "`sysctl -w fs.inotify.max_user_instances=1024` (bin/up does when run as root), or use fewer hosts.",
  );
}
