import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { resolveStackConfig } from "../../components/stack/config";
import { ConfigError } from "../../provision/config/errors";
import {
  BAD_CONFIG_CASES,
  BAD_INPUT_DOC,
  expectedMessage,
  renderBadInputDoc,
  toAllConfig,
} from "./bad-config-cases";

describe("bad stack config: the exact error for each", () => {
  it("has at least 80 refused cases", () => {
    assert.ok(BAD_CONFIG_CASES.filter((row) => row.gap === undefined).length >= 80);
  });

  for (const row of BAD_CONFIG_CASES) {
    if (row.gap !== undefined) {
      it(`refuses ${row.title}`, { todo: row.gap }, () => {
        assert.throws(() => resolveStackConfig(toAllConfig(row.config)), ConfigError);
      });
      continue;
    }
    it(`refuses ${row.title}`, () => {
      assert.throws(
        () => resolveStackConfig(toAllConfig(row.config)),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.message, expectedMessage(row.errors));
          assert.deepEqual(error.problems, row.errors);
          return true;
        },
      );
    });
  }

  it("never quotes a secret value back", () => {
    for (const row of BAD_CONFIG_CASES.filter((candidate) => candidate.kind === "secret")) {
      const secret = String(row.config.sshPrivateKey);
      assert.ok(!row.errors.join("\n").includes(secret));
    }
  });

  it("never quotes a URL's credentials back", () => {
    const rows = BAD_CONFIG_CASES.filter((row) => JSON.stringify(row.config).includes("s3cret-pw"));
    assert.ok(rows.length >= 3);
    for (const row of rows) assert.ok(!row.errors.join("\n").includes("s3cret-pw"), row.title);
  });

  it("docs/bad-input.md is the rendered table (run `npx tsx test/unit/bad-config-cases.ts`)", () => {
    assert.equal(fs.readFileSync(BAD_INPUT_DOC, "utf8"), renderBadInputDoc(BAD_CONFIG_CASES));
  });
});

/** The Pulumi CLI is on PATH after bin/setup (bin/test); `bin/test unit` runs without it. */
function pulumiCliAvailable(): boolean {
  try {
    execFileSync("pulumi", ["version"], {
      stdio: "ignore",
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    return true;
  } catch {
    return false;
  }
}

const ROOT = path.resolve(__dirname, "..", "..");

describe(
  "bad stack config stops a real `pulumi preview` with nothing created",
  {
    skip: pulumiCliAvailable() ? false : "the Pulumi CLI is not on PATH (run through bin/test)",
    timeout: 10 * 60_000,
  },
  () => {
    for (const [index, row] of BAD_CONFIG_CASES.filter((c) => c.preview).entries()) {
      it(`preview refuses ${row.title}`, async () => {
        // A backend of its own: nothing this test does can touch another stack's state.
        const backend = fs.mkdtempSync(path.join(os.tmpdir(), "dockfleet-bad-config-"));
        const stackName = `e2ebadconfig${process.pid}x${index}`;
        const stackFile = path.join(ROOT, "stacks", `Pulumi.${stackName}.yaml`);
        const config = Object.fromEntries(
          Object.entries(row.config).map(([key, value]) => [`dockfleet:${key}`, value]),
        );
        // JSON is YAML.
        fs.writeFileSync(stackFile, `config: ${JSON.stringify(config)}\n`);
        try {
          const stack = await LocalWorkspace.createOrSelectStack(
            { stackName, workDir: ROOT },
            {
              envVars: {
                PULUMI_BACKEND_URL: `file://${backend}`,
                PULUMI_CONFIG_PASSPHRASE: "bad-config-test",
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DIY_BACKEND_URL_NO_WARN: "true",
                DOCKFLEET_HOST_IMAGE: "dockfleet/host:never-used",
              },
            },
          );
          let output = "";
          await assert.rejects(
            stack.preview({ onOutput: (line) => (output += line) }),
            (error: Error) => {
              output += error.message;
              return true;
            },
          );
          for (const line of row.errors)
            assert.ok(output.includes(line), `"${line}" in:\n${output}`);
          const state = await stack.exportStack();
          const resources = (state.deployment as { resources?: unknown[] }).resources ?? [];
          assert.deepEqual(resources, [], "the preview left resources in the state");
          const containers = execFileSync("docker", [
            "ps",
            "--all",
            "--quiet",
            "--filter",
            `label=dockfleet.io/stack=${stackName}`,
          ]).toString();
          assert.equal(containers.trim(), "");
          await stack.workspace.removeStack(stackName);
        } finally {
          fs.rmSync(stackFile, { force: true });
          fs.rmSync(backend, { recursive: true, force: true });
        }
      });
    }
  },
);
