/**
 * A package manager's own output, read as a counter: apt's "N upgraded, M newly installed" and
 * "Need to get X MB" give the install's size, its "Get:", "Unpacking" and "Setting up" lines
 * (dpkg's) how far it has come; dnf and yum number their lines themselves ("(3/10): name",
 * "Installing : name 3/10"). This runs on dockfleet's side of the step, on the lines the script
 * already prints, so the scripts (whose text is a resource input) stay as they are.
 */
import { createProgressThrottle, type Progress } from "./progress";

/** What one output line says: whether it was a per-package line, and the progress it makes. */
export interface PackageLine {
  /** A per-package line the counter stands for (shown as the counter, not as itself). */
  counted: boolean;
  progress?: Progress;
}

const APT_SUMMARY =
  /^(\d+) upgraded, (\d+) newly installed, (?:(\d+) reinstalled, )?(?:(\d+) downgraded, )?(\d+) to remove/;
const APT_NEED = /^Need to get ([\d.,]+) ([kMGT]?B)(?:\/[\d.,]+ [kMGT]?B)? of archives/;
// "Get:2 http://deb.debian.org/debian bookworm/main amd64 containerd amd64 1.6.20 [25.9 MB]":
// a package, unlike the index files of `apt-get update` ("Get:1 <url> bookworm InRelease [151 kB]").
const APT_GET = /^Get:\d+ \S+ \S+ \S+ (\S+) \S+ \S+ \[([\d.,]+) ([kMGT]?B)\]$/;
const DPKG_STEP = /^(Unpacking|Setting up|Removing) (\S+) \(/;
const DPKG_NOISE = /^(Preparing to unpack |Selecting previously unselected package )/;
const RPM_DOWNLOAD = /^\((\d+)\/(\d+)\): (\S+)/;
const RPM_STEP =
  /^\s*(Installing|Upgrading|Reinstalling|Downgrading|Cleanup|Erasing|Removing|Obsoleting|Verifying|Running scriptlet)\s*:\s*(\S+).*?\s(\d+)\/(\d+)\s*$/;

const UNIT_BYTES: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** Pure: "65.6" "MB" (or "65,6" in a comma locale) as bytes. */
export function parseSize(value: string, unit: string): number {
  return Math.round(Number(value.replace(",", ".")) * (UNIT_BYTES[unit] ?? 1));
}

/** Pure: an apt package's name without its architecture ("libip6tc2:amd64"). */
function debName(name: string): string {
  return name.replace(/:[a-z0-9_]+$/, "");
}

/** Pure: an rpm's name without its version ("containerd.io-1.6.9-3.1.el8.x86_64"). */
function rpmName(name: string): string {
  return name.replace(/-\d.*$/, "");
}

/**
 * A reader of one package manager run's output (apt or dnf/yum, told apart by their lines):
 * `read(line)` says whether the line is a per-package line and what progress it makes.
 */
export function createPackageLineReader(): (line: string) => PackageLine {
  // apt: what the summary and "Need to get" announced, and what dpkg has done of it.
  let installs: number | undefined;
  let removals: number | undefined;
  let needBytes: number | undefined;
  let fetchedBytes = 0;
  let dpkgDone = 0;
  let removed = 0;
  return (raw) => {
    const line = raw.trim();
    const summary = APT_SUMMARY.exec(line);
    if (summary) {
      const [, upgraded, added, reinstalled, downgraded, toRemove] = summary;
      installs = [upgraded, added, reinstalled, downgraded].reduce(
        (sum, count) => sum + Number(count ?? 0),
        0,
      );
      removals = Number(toRemove);
      dpkgDone = 0;
      removed = 0;
      return { counted: false };
    }
    const need = APT_NEED.exec(line);
    if (need) {
      needBytes = parseSize(need[1]!, need[2]!);
      return { counted: false };
    }
    const get = APT_GET.exec(line);
    if (get) {
      fetchedBytes += parseSize(get[2]!, get[3]!);
      // The summary can arrive after the first "Get:" (apt's stdout and stderr are two streams).
      if (needBytes === undefined) return { counted: true };
      const progress: Progress = {
        what: "download",
        done: fetchedBytes,
        total: needBytes,
        as: "bytes",
        detail: debName(get[1]!),
      };
      return { counted: true, progress };
    }
    const step = DPKG_STEP.exec(line);
    if (step) {
      const [, action, name] = step;
      const detail = `${action!.toLowerCase()} ${debName(name!)}`;
      if (action === "Removing") {
        removed += 1;
        if (!removals) return { counted: true };
        return {
          counted: true,
          progress: { what: "packages", done: removed, total: removals, as: "percent", detail },
        };
      }
      dpkgDone += 1;
      if (!installs) return { counted: true };
      // Each package is unpacked, then set up: two of dpkg's steps each.
      const progress: Progress = {
        what: "packages",
        done: dpkgDone,
        total: 2 * installs,
        as: "percent",
        detail,
      };
      return { counted: true, progress };
    }
    if (DPKG_NOISE.test(line)) return { counted: true };
    const download = RPM_DOWNLOAD.exec(line);
    if (download) {
      const progress: Progress = {
        what: "download",
        done: Number(download[1]),
        total: Number(download[2]),
        detail: rpmName(download[3]!),
      };
      return { counted: true, progress };
    }
    const rpm = RPM_STEP.exec(line);
    if (rpm) {
      const [, action, name, index, count] = rpm;
      if (action === "Running scriptlet") return { counted: true };
      const total = Number(count);
      // The transaction runs every element, then verifies every one: half the work each.
      const done = action === "Verifying" ? total + Number(index) : Number(index);
      const progress: Progress = {
        what: "packages",
        done,
        total: 2 * total,
        as: "percent",
        detail: `${action!.toLowerCase()} ${rpmName(name!)}`,
      };
      return { counted: true, progress };
    }
    return { counted: false };
  };
}

/**
 * The output handler of a script run that installs packages: per-package lines become a
 * throttled counter ("packages 40% (unpacking containerd)"), every other line goes to `emit` as it is.
 */
export function packageProgressLines(
  emit: (line: string) => void,
  options: { intervalMs?: number; now?: () => number } = {},
): (line: string) => void {
  const read = createPackageLineReader();
  const throttled = createProgressThrottle(emit, options);
  return (line) => {
    const { counted, progress } = read(line);
    if (progress !== undefined) throttled(progress);
    if (!counted) emit(line);
  };
}
