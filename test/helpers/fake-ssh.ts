/**
 * A fake host for unit tests of the dynamic providers (docker-machine's habit: a fake commander
 * answers the provisioner's commands). A FakeCommander stands where the SSH connection would be:
 * it records every command (with its stdin, env and timeout) and every uploaded file, and answers
 * commands from rules (regex → reply). A command no rule answers fails the step at once and fails
 * the test when the fakes are removed, so a test cannot pass by accident.
 *
 *   const host = new FakeCommander("10.0.0.1:22").on(/^docker info/, { stdout: "{}" });
 *   const restore = installFakeHosts(host);
 *   try { await someProvider.create(inputs) } finally { restore() }
 */
import assert from "node:assert/strict";
import { afterEach } from "node:test";
import type { SshClient } from "../../provision/ssh/client";
import { SshCommandError, SshConnectTimeoutError } from "../../provision/ssh/errors";
import { useFakeSshClients } from "../../provision/ssh/pool";
import { FACTS_COMMAND } from "../../provision/dynamic/host-facts";
import { renderRemoteCommand } from "../../provision/ssh/shell";
import type { ExecOptions, ExecResult, SshConnectionArgs } from "../../provision/ssh/types";

/** A command's answer; fields left out are "" and exit code 0. */
export interface FakeReply {
  stdout?: string;
  stderr?: string;
  code?: number | null;
  signal?: string | null;
}

/** A reply, or one computed from the command (it may change the fake's state, or wait). */
export type FakeAnswer =
  FakeReply | ((call: RecordedCommand, fake: FakeCommander) => FakeReply | Promise<FakeReply>);

/** One command as the provider sent it. */
export interface RecordedCommand {
  command: string;
  /** Standard input (a script for `bash -s`), as text. */
  stdin?: string;
  env: Record<string, string>;
  timeoutMs?: number;
  /** Which method sent it: execOrThrow fails on a non-zero exit, exec does not. */
  via: "exec" | "execOrThrow";
}

export interface RecordedUpload {
  path: string;
  content: string;
  mode: number;
}

/** Every answer a rule gives, in turn; the last one repeats. */
interface Rule {
  pattern: RegExp;
  answers: FakeAnswer[];
  used: number;
}

export class UnexpectedCommandError extends Error {}

/** A well-formed ed25519 public key (32 bytes of 7s): what every fake host presents. */
const FAKE_HOST_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH";

export class FakeCommander implements SshClient {
  readonly target: string;
  readonly hostKey = FAKE_HOST_KEY;
  /** A fake connection never ends by itself. */
  readonly closed = new Promise<void>(() => undefined);
  readonly isConnected = true;
  /** Every command, in order. */
  readonly commands: RecordedCommand[] = [];
  /** Every putContent, in order. */
  readonly uploads: RecordedUpload[] = [];
  /** The host's files: what was uploaded, plus what a test puts there (read by getContent). */
  readonly files = new Map<string, string>();
  /** The facts probes (host-facts.ts) sent, kept apart from `commands`. */
  readonly probes: string[] = [];
  /** What the host shows to a probe: the output of every probe section (see factsAnswer). */
  factsOutput: (probe: string) => string = () => "";
  /** Commands no rule answered (each also failed where it was sent). */
  readonly unexpected: string[] = [];
  /** The connection args of each "connection" made to this host. */
  readonly connections: SshConnectionArgs[] = [];
  /** When set, connecting fails as with a host that is gone (SshConnectTimeoutError). */
  unreachable = false;
  private readonly rules: Rule[] = [];

  /** `address` is "host:port", as useFakeSshClients routes connections. */
  constructor(readonly address: string) {
    this.target = `root@${address}`;
  }

  /**
   * Answers commands that match `pattern` with `answers`, in turn (the last one repeats). A rule
   * added later wins over an earlier one that matches too.
   */
  on(pattern: RegExp, ...answers: FakeAnswer[]): this {
    if (answers.length === 0)
      throw new Error(`fake ${this.address}: rule ${pattern} has no answer`);
    this.rules.unshift({ pattern, answers, used: 0 });
    return this;
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.run(command, opts, "exec");
  }

  async execOrThrow(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.run(command, opts, "execOrThrow");
    if (result.code !== 0) {
      throw new SshCommandError(
        this.target,
        { command, envNames: Object.keys(opts.env ?? {}), ...result },
        result.code,
        result.signal,
      );
    }
    return result;
  }

  async putContent(remotePath: string, data: string | Buffer, mode: number): Promise<void> {
    const content = data.toString();
    this.uploads.push({ path: remotePath, content, mode });
    this.files.set(remotePath, content);
  }

  async getContent(remotePath: string): Promise<Buffer | undefined> {
    const content = this.files.get(remotePath);
    return content === undefined ? undefined : Buffer.from(content);
  }

  async close(): Promise<void> {}

  /** What useFakeSshClients calls for each connection to this host. */
  async connect(args: SshConnectionArgs): Promise<SshClient> {
    this.connections.push(args);
    if (this.unreachable) {
      throw new SshConnectTimeoutError(this.target, 15_000, 1, new Error("connect ETIMEDOUT"));
    }
    return this;
  }

  /** The commands sent, as text, in order. */
  get commandLines(): string[] {
    return this.commands.map((call) => call.command);
  }

  /** The commands that match `pattern`. */
  ran(pattern: RegExp): RecordedCommand[] {
    return this.commands.filter((call) => pattern.test(call.command));
  }

  /** Position of the first command that matches `pattern` (-1 when none did). */
  indexOf(pattern: RegExp): number {
    return this.commands.findIndex((call) => pattern.test(call.command));
  }

  /** The upload to `path` (the last one); throws when there was none. */
  upload(path: string): RecordedUpload {
    const found = this.uploads.filter((upload) => upload.path === path).pop();
    if (found === undefined) {
      throw new Error(
        `fake ${this.address}: nothing was uploaded to ${path} ` +
          `(uploads: ${this.uploads.map((upload) => upload.path).join(", ") || "none"})`,
      );
    }
    return found;
  }

  /** A batch of probes (renderProbes), answered section by section from factsOutput. */
  private answerProbes(script: string): ExecResult {
    this.probes.push(script);
    const sections = script.split(/^echo "@@dockfleet-facts (\d+)"$/m).slice(1);
    let stdout = "";
    for (let index = 0; index < sections.length; index += 2) {
      const output = this.factsOutput(sections[index + 1] ?? "");
      stdout += `@@dockfleet-facts ${sections[index]}\n${output}\n`;
    }
    return { stdout, stderr: "", code: 0, signal: null };
  }

  private async run(
    command: string,
    opts: ExecOptions,
    via: RecordedCommand["via"],
  ): Promise<ExecResult> {
    renderRemoteCommand(command, opts.env); // the real client's check of the env names
    if (command === FACTS_COMMAND) return this.answerProbes(opts.stdin?.toString() ?? "");
    const call: RecordedCommand = {
      command,
      stdin: opts.stdin?.toString(),
      env: { ...opts.env },
      timeoutMs: opts.timeoutMs,
      via,
    };
    this.commands.push(call);
    const rule = this.rules.find((candidate) => candidate.pattern.test(command));
    if (rule === undefined) {
      this.unexpected.push(command);
      throw new UnexpectedCommandError(
        `fake ${this.address}: no rule answers ${JSON.stringify(command)}` +
          (call.stdin !== undefined ? ` (stdin: ${JSON.stringify(call.stdin.slice(0, 80))})` : ""),
      );
    }
    const answer = rule.answers[Math.min(rule.used, rule.answers.length - 1)];
    rule.used++;
    const reply = typeof answer === "function" ? await answer(call, this) : answer;
    const result: ExecResult = {
      stdout: reply.stdout ?? "",
      stderr: reply.stderr ?? "",
      code: reply.code === undefined ? 0 : reply.code,
      signal: reply.signal ?? null,
    };
    for (const line of lines(result.stdout)) opts.onStdout?.(line);
    for (const line of lines(result.stderr)) opts.onStderr?.(line);
    return result;
  }
}

function lines(text: string): string[] {
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

/**
 * Routes the SSH connections of the code under test to these fakes (by "host:port"); any other
 * host is refused. The returned function removes them, and throws when a fake was sent a
 * command no rule answered: call it at the end of each test (after an `await`ed provider call).
 */
export function installFakeHosts(...fakes: FakeCommander[]): () => void {
  const restore = useFakeSshClients(
    Object.fromEntries(fakes.map((fake) => [fake.address, (args) => fake.connect(args)])),
  );
  return () => {
    restore();
    const unexpected = fakes.flatMap((fake) =>
      fake.unexpected.map((command) => `${fake.address}: ${command}`),
    );
    if (unexpected.length > 0) {
      throw new UnexpectedCommandError(`commands no fake rule answered:\n${unexpected.join("\n")}`);
    }
  };
}

/** The script line runScript reads its result from. */
export function scriptResult(fields: Record<string, string>): FakeReply {
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${value}`);
  return { stdout: `DOCKFLEET_RESULT ${pairs.join(" ")}\n` };
}

/**
 * The command lines, as the real client would send them to the host (env included), that contain
 * `text`: a secret must be in none (errors and logs print command lines, and every user on the
 * host sees them in `ps`; stdin stays unseen).
 */
export function commandLinesWith(text: string, ...fakes: FakeCommander[]): string[] {
  return fakes.flatMap((fake) =>
    fake.commands
      .map((call) => renderRemoteCommand(call.command, call.env).command)
      .filter((line) => line.includes(text)),
  );
}

/** A provider's create or update result, with the outputs every dockfleet provider returns. */
export async function outputsOf<R extends { outs?: unknown }>(
  result: Promise<R>,
): Promise<R & { outs: NonNullable<R["outs"]> }> {
  const settled = await result;
  assert.ok(
    settled.outs !== undefined && settled.outs !== null,
    "the provider returned no outputs",
  );
  return settled as R & { outs: NonNullable<R["outs"]> };
}

/**
 * For a test file: `const install = fakeHostsPerTest();`, then `install(host1, host2)` inside a
 * test (again to replace them). Each test's fakes are removed after it, which fails the test on a
 * command no rule answered.
 */
export function fakeHostsPerTest(): (...hosts: FakeCommander[]) => void {
  let restore: (() => void) | undefined;
  afterEach(() => {
    const uninstall = restore;
    restore = undefined;
    uninstall?.();
  });
  return (...hosts) => {
    restore?.(); // a test that installs again replaces its fakes
    restore = installFakeHosts(...hosts);
  };
}
