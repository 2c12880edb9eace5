import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

/**
 * The GitHub workflows: they parse, preview pull requests and apply main with the official Pulumi
 * action, guard `up` with a GitHub environment, and take every credential from secrets.
 */

// js-yaml comes with @pulumi/pulumi (a dependency of it); typed here for the one call used.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { load(text: string): unknown };

const WORKFLOWS = path.resolve(__dirname, "..", "..", ".github", "workflows");

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}
interface Job {
  "runs-on"?: string;
  environment?: unknown;
  env?: Record<string, unknown>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  env?: Record<string, unknown>;
  jobs: Record<string, Job>;
}

function loadWorkflows(): Map<string, Workflow> {
  const files = fs.readdirSync(WORKFLOWS).filter((name) => /\.ya?ml$/.test(name));
  return new Map(
    files.map((name) => [
      name,
      yaml.load(fs.readFileSync(path.join(WORKFLOWS, name), "utf8")) as Workflow,
    ]),
  );
}

/** Every string value in a parsed document, with its path. */
function strings(value: unknown, at = ""): [string, string][] {
  if (typeof value === "string") return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((item, index) => strings(item, `${at}[${index}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([key, item]) => strings(item, `${at}.${key}`));
  }
  return [];
}

const pulumiSteps = (job: Job) =>
  job.steps.filter((step) => step.uses?.startsWith("pulumi/actions@"));
const CREDENTIAL_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIAL)/i;
const LITERAL_CREDENTIALS = [
  /AKIA[0-9A-Z]{16}/, // AWS access key id
  /LTAI[0-9A-Za-z]{12,}/, // Alibaba Cloud AccessKey id
  /pul-[0-9a-f]{40}/, // Pulumi access token
  /gh[pousr]_[0-9A-Za-z]{36}/, // GitHub token
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
];

describe("GitHub workflows", () => {
  const workflows = loadWorkflows();

  it("parse, and there is a preview and an up workflow", () => {
    assert.ok(workflows.size >= 2, `workflows found: ${[...workflows.keys()].join(", ")}`);
    for (const [name, workflow] of workflows) {
      assert.ok(workflow.on && workflow.jobs, `${name}: has triggers and jobs`);
    }
  });

  it("preview every environment on pull requests with the Pulumi action, commenting on the PR", () => {
    const previews = [...workflows.values()].filter((workflow) => "pull_request" in workflow.on);
    const jobs = previews.flatMap((workflow) => Object.values(workflow.jobs));
    const steps = jobs.flatMap(pulumiSteps).filter((step) => step.with?.command === "preview");
    assert.ok(steps.length > 0, "a pulumi/actions preview step runs on pull requests");
    for (const step of steps) {
      assert.equal(step.with?.["comment-on-pr"], true);
      assert.match(String(step.with?.["stack-name"]), /\$\{\{ matrix\.stack \}\}/);
    }
  });

  it("run `up` only on main, in a job guarded by a GitHub environment", () => {
    const ups = [...workflows.entries()].filter(([, workflow]) =>
      Object.values(workflow.jobs).some((job) =>
        pulumiSteps(job).some((step) => step.with?.command === "up"),
      ),
    );
    assert.equal(ups.length, 1, "one workflow applies changes");
    const [[name, workflow]] = ups;
    assert.deepEqual(
      Object.keys(workflow.on).sort(),
      ["push", "workflow_dispatch"],
      `${name}: triggers`,
    );
    assert.deepEqual((workflow.on.push as { branches: string[] }).branches, ["main"]);
    assert.ok(!("pull_request" in workflow.on), "never `up` from a pull request");
    for (const job of Object.values(workflow.jobs)) {
      if (pulumiSteps(job).some((step) => step.with?.command === "up")) {
        assert.ok(job.environment, "the up job names a GitHub environment");
      }
    }
  });

  it("take credentials only from secrets, never literal keys", () => {
    for (const [name, workflow] of workflows) {
      for (const [at, value] of strings(workflow)) {
        for (const pattern of LITERAL_CREDENTIALS) {
          assert.doesNotMatch(value, pattern, `${name}${at}: looks like a literal credential`);
        }
        // Only secrets.X and GitHub's own contexts are referenced: no vars.*, inputs.* holding keys.
        for (const expression of value.matchAll(/\$\{\{\s*([^}]*?)\s*\}\}/g)) {
          assert.match(
            expression[1],
            /^(secrets\.[A-Z0-9_]+|matrix\.[a-z]+|github\.[a-z_.]+)$/,
            `${name}${at}: ${expression[0]}`,
          );
        }
      }
      const envBlocks = [
        workflow.env,
        ...Object.values(workflow.jobs).flatMap((job) => [
          job.env,
          ...job.steps.map((step) => step.env),
        ]),
      ];
      const inputs = Object.values(workflow.jobs).flatMap((job) =>
        job.steps.map((step) => step.with),
      );
      for (const block of [...envBlocks, ...inputs]) {
        for (const [key, value] of Object.entries(block ?? {})) {
          if (CREDENTIAL_NAME.test(key) || key === "cloud-url") {
            assert.match(
              String(value),
              /^\$\{\{ secrets\.[A-Z0-9_]+ \}\}$/,
              `${name}: ${key} comes from a secret`,
            );
          }
        }
      }
    }
  });
});
