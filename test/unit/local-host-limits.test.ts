import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  INOTIFY_INSTANCES_PER_HOST,
  readInotifyInstanceLimit,
  requireInotifyInstances,
} from "../../components/machines/local/host-limits";

describe("local hosts against the machine's inotify limit", () => {
  it("refuses more hosts than the limit boots, naming the setting, the numbers and the fix", () => {
    assert.throws(
      () => requireInotifyInstances(20, 128),
      (error: Error) =>
        /hosts: 20 local hosts need about 200 inotify instances, and this machine allows 128/.test(
          error.message,
        ) &&
        /past the first 12 /.test(error.message) &&
        /sysctl -w fs\.inotify\.max_user_instances=1024/.test(error.message),
    );
  });

  it("accepts what fits, and a limit it could not read", () => {
    requireInotifyInstances(12, 128);
    requireInotifyInstances(20, 20 * INOTIFY_INSTANCES_PER_HOST);
    requireInotifyInstances(50, undefined);
  });

  it("reads the limit from /proc's file, and nothing from a missing or odd one", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inotify-"));
    const file = path.join(dir, "max_user_instances");
    fs.writeFileSync(file, "1024\n");
    assert.equal(readInotifyInstanceLimit(file), 1024);
    fs.writeFileSync(file, "lots\n");
    assert.equal(readInotifyInstanceLimit(file), undefined);
    assert.equal(readInotifyInstanceLimit(path.join(dir, "missing")), undefined);
    fs.rmSync(dir, { recursive: true });
  });
});
