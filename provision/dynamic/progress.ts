/**
 * Counter lines for steps whose size is known: "packages 40% (unpacking containerd)",
 * "tasks running 2/5", "download 38% of 65.6 MB (docker.io)". One format for the providers'
 * progress (a package install, the waits that know how many things they wait for) and the CLI's
 * per-host loops, and a throttle so that a step with many small parts (a file per package) gives
 * a line every so often, not a line per part. Pure apart from the clock the throttle is given.
 */

/** How far a step with a known size has come. */
export interface Progress {
  /** What is counted, the line's first words ("packages", "tasks running", "host"). */
  what: string;
  done: number;
  total: number;
  /**
   * How the amount shows: "count" as done/total, "percent" as a whole percentage, "bytes" as a
   * percentage of the total's size ("38% of 65.6 MB").
   * @default "count"
   */
  as?: "count" | "percent" | "bytes";
  /** What is being worked on now, in parentheses after the amount ("unpacking containerd"). */
  detail?: string;
}

/** Pure: done/total as a whole percentage, 0 to 100 (100 for an empty total). */
export function percentOf(done: number, total: number): number {
  if (!(total > 0)) return 100;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

/** Pure: a size in bytes the way apt prints one ("65.6 MB", "910 kB", "12 B"). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Pure: one progress line, "what 3/10 (detail)", "what 30% (detail)" or "what 30% of 10 MB". */
export function renderProgress(progress: Progress): string {
  const { what, done, total, as = "count", detail } = progress;
  const shownDone = Math.max(0, Math.min(done, total));
  const amount =
    as === "count"
      ? `${shownDone}/${total}`
      : as === "percent"
        ? `${percentOf(done, total)}%`
        : `${percentOf(done, total)}% of ${formatBytes(total)}`;
  return `${what} ${amount}${detail ? ` (${detail})` : ""}`;
}

/**
 * Sends progress lines to `emit`, at most one per `intervalMs`, except the ones that always go:
 * the first of a new `what` (a new phase) and the last (done reaches total). A line equal to the
 * last one sent never goes again.
 */
export function createProgressThrottle(
  emit: (line: string) => void,
  options: { intervalMs?: number; now?: () => number } = {},
): (progress: Progress) => void {
  const intervalMs = options.intervalMs ?? 1_000;
  const now = options.now ?? Date.now;
  let lastWhat: string | undefined;
  let lastLine: string | undefined;
  let lastAt = -Infinity;
  return (progress) => {
    const line = renderProgress(progress);
    if (line === lastLine) return;
    const at = now();
    const due =
      progress.what !== lastWhat || progress.done >= progress.total || at - lastAt >= intervalMs;
    if (!due) return;
    lastWhat = progress.what;
    lastLine = line;
    lastAt = at;
    emit(line);
  };
}
