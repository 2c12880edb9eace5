import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  createPackageLineReader,
  packageProgressLines,
  parseSize,
} from "../../provision/dynamic/package-progress";
import {
  createProgressThrottle,
  formatBytes,
  percentOf,
  renderProgress,
} from "../../provision/dynamic/progress";

describe("renderProgress", () => {
  it("shows a count, a percentage or a share of a size, with what is worked on", () => {
    assert.equal(renderProgress({ what: "tasks running", done: 2, total: 5 }), "tasks running 2/5");
    assert.equal(
      renderProgress({
        what: "packages",
        done: 8,
        total: 20,
        as: "percent",
        detail: "unpacking containerd",
      }),
      "packages 40% (unpacking containerd)",
    );
    assert.equal(
      renderProgress({ what: "download", done: 25e6, total: 65.6e6, as: "bytes", detail: "runc" }),
      "download 38% of 65.6 MB (runc)",
    );
  });

  it("keeps the amount within 0 and the total", () => {
    assert.equal(renderProgress({ what: "host", done: 7, total: 5 }), "host 5/5");
    assert.equal(renderProgress({ what: "p", done: 30, total: 20, as: "percent" }), "p 100%");
    assert.equal(percentOf(-1, 10), 0);
    assert.equal(percentOf(0, 0), 100);
    assert.equal(percentOf(999, 1000), 99, "rounds down: 100% only when done");
  });

  it("formats sizes as apt does", () => {
    assert.equal(formatBytes(12), "12 B");
    assert.equal(formatBytes(19_400), "19.4 kB");
    assert.equal(formatBytes(2_710_000), "2.7 MB");
    assert.equal(formatBytes(264_000_000), "264 MB");
    assert.equal(formatBytes(1.5e9), "1.5 GB");
  });
});

describe("createProgressThrottle", () => {
  it("sends a line per interval, the first of each phase, and the last", () => {
    let clock = 0;
    const sent: string[] = [];
    const show = createProgressThrottle((line) => sent.push(line), {
      intervalMs: 1000,
      now: () => clock,
    });
    show({ what: "download", done: 1, total: 4 });
    clock = 100;
    show({ what: "download", done: 2, total: 4 });
    clock = 1200;
    show({ what: "download", done: 3, total: 4 });
    clock = 1300;
    show({ what: "packages", done: 1, total: 10 });
    show({ what: "packages", done: 2, total: 10 });
    show({ what: "packages", done: 10, total: 10 });
    show({ what: "packages", done: 10, total: 10 });
    assert.deepEqual(sent, ["download 1/4", "download 3/4", "packages 1/10", "packages 10/10"]);
  });
});

const recordedApt = fs
  .readFileSync(path.join(__dirname, "fixtures", "apt-install-docker-output.txt"), "utf8")
  .split("\n");

describe("package manager output as a counter", () => {
  it("parses sizes, in either decimal mark", () => {
    assert.equal(parseSize("65.6", "MB"), 65_600_000);
    assert.equal(parseSize("65,6", "MB"), 65_600_000);
    assert.equal(parseSize("910", "kB"), 910_000);
  });

  it("reads a recorded apt-get install of docker.io (its lines in the order Pulumi showed them)", () => {
    const read = createPackageLineReader();
    const progress = recordedApt.map(read).flatMap((line) => line.progress ?? []);
    const downloads = progress.filter((entry) => entry.what === "download");
    const packages = progress.filter((entry) => entry.what === "packages");
    // Get:1 came before the summary, so nine of the ten downloads are counted against 65.6 MB.
    assert.equal(downloads.length, 9);
    assert.equal(downloads.at(-1)!.total, 65_600_000);
    assert.equal(renderProgress(downloads.at(-1)!), "download 100% of 65.6 MB (docker.io)");
    // Ten packages: ten unpacked, ten set up.
    assert.equal(packages.length, 20);
    assert.deepEqual(
      packages.map((entry) => `${entry.done}/${entry.total}`),
      Array.from({ length: 20 }, (_, index) => `${index + 1}/20`),
    );
    assert.equal(renderProgress(packages[1]!), "packages 10% (unpacking containerd)");
    assert.equal(renderProgress(packages[2]!), "packages 15% (unpacking libip6tc2)");
    assert.equal(renderProgress(packages.at(-1)!), "packages 100% (setting up docker.io)");
  });

  it("shows a throttled counter instead of each package's lines, and every other line", () => {
    let clock = 0;
    const shown: string[] = [];
    const show = packageProgressLines((line) => shown.push(line), { now: () => clock });
    for (const line of recordedApt) {
      show(line);
      clock += 100;
    }
    const counters = shown.filter((line) => /^(download|packages) \d+%/.test(line));
    assert.ok(counters.length >= 3 && counters.length <= 12, counters.join("\n"));
    assert.equal(counters.at(-1), "packages 100% (setting up docker.io)");
    assert.ok(
      !shown.some((line) => /^(Get:\d|Unpacking |Setting up |Preparing to unpack )/.test(line)),
    );
    assert.ok(shown.includes("Processing triggers for libc-bin (2.36-9+deb12u14) ..."));
    assert.ok(shown.includes("install-docker: installed docker.io 20.10.24+dfsg1-1+deb12u1+b6"));
  });

  it("counts an apt removal", () => {
    const read = createPackageLineReader();
    read("0 upgraded, 0 newly installed, 1 to remove and 20 not upgraded.");
    assert.equal(
      renderProgress(read("Removing docker.io (20.10.24+dfsg1-1+deb12u1+b6) ...").progress!),
      "packages 100% (removing docker.io)",
    );
  });

  it("ignores the index files of apt-get update", () => {
    const read = createPackageLineReader();
    assert.deepEqual(read("Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]"), {
      counted: false,
    });
    assert.deepEqual(
      read("Get:2 http://deb.debian.org/debian bookworm/main amd64 Packages [8786 kB]"),
      { counted: false },
    );
  });

  it("reads dnf's numbered lines (downloads, the transaction, verification)", () => {
    const read = createPackageLineReader();
    const lines = [
      "(1/3): containerd.io-1.6.24-3.1.el9.x86_64.rpm   12 MB/s |  33 MB     00:02",
      "(3/3): docker-ce-24.0.7-1.el9.x86_64.rpm         10 MB/s |  24 MB     00:02",
      "  Preparing        :                                                        1/1",
      "  Installing       : containerd.io-1.6.24-3.1.el9.x86_64                    1/3",
      "  Running scriptlet: containerd.io-1.6.24-3.1.el9.x86_64                    1/3",
      "  Installing       : docker-ce-3:24.0.7-1.el9.x86_64                        3/3",
      "  Verifying        : containerd.io-1.6.24-3.1.el9.x86_64                    1/3",
      "  Verifying        : docker-ce-3:24.0.7-1.el9.x86_64                        3/3",
      "Complete!",
    ];
    const shown = lines.map(read).map((line) => line.progress && renderProgress(line.progress));
    assert.deepEqual(shown, [
      "download 1/3 (containerd.io)",
      "download 3/3 (docker-ce)",
      undefined,
      "packages 16% (installing containerd.io)",
      undefined,
      "packages 50% (installing docker-ce)",
      "packages 66% (verifying containerd.io)",
      "packages 100% (verifying docker-ce)",
      undefined,
    ]);
    assert.equal(read("Complete!").counted, false);
  });
});
