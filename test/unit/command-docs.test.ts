import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import {
  COMMAND_DOC,
  generateCommandReference,
  renderCommandReference,
} from "../../bin/gen-command-docs";
import { buildProgram } from "../../cli/main";

/** docs/commands.md is generated from the CLI's own definitions: never stale. */
describe("command reference", () => {
  it("matches what the current command definitions generate", () => {
    const committed = fs.existsSync(COMMAND_DOC)
      ? fs.readFileSync(COMMAND_DOC, "utf8")
      : "(missing)";
    assert.ok(
      committed === generateCommandReference(),
      "docs/commands.md differs from the commands in cli/: " +
        "run `npx tsx bin/gen-command-docs.ts` and commit the result",
    );
  });

  it("would change when a command or an option is added (the check can fail)", () => {
    const program = buildProgram();
    const before = renderCommandReference(program);
    program
      .command("provision")
      .description("provision a host again")
      .argument("[host]", "only this host")
      .option("--to <version>", "the version", "27.0.1");
    const after = renderCommandReference(program);
    assert.notEqual(before, after);
    assert.match(after, /\| \[`provision`\]\(#provision\) \| provision a host again \|/);
    assert.match(after, /\| `--to <version>` \| `27\.0\.1` \| the version \|/);
    assert.match(
      before,
      /## stop \(alias: halt\)\n\n```\ndockfleet stop \[options\] \[hosts\.\.\.\]\n```/,
    );
    assert.match(before, /\| `-s, --stack <stack>` \| `\$DOCKFLEET_STACK`, else `local` \|/);
  });
});
