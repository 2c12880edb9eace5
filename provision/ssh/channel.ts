/** Pieces of running one command on a channel: output lines, signals, how many run at once. */
import type { ClientChannel } from "ssh2";
import { StringDecoder } from "node:string_decoder";

/** "SIGTERM" whether the server said "TERM" or ssh2 already prefixed it. */
export function normalizeSignalName(signal: string): string {
  return signal.startsWith("SIG") ? signal : `SIG${signal}`;
}

interface Ssh2ChannelInternals {
  outgoing?: { id: number; state: string };
  _client?: { _protocol?: { signal(channelId: number, signalName: string): void } };
}

/**
 * Asks sshd to signal the command's process group (honoured for non-root logins only). ssh2's
 * Channel.signal() silently does nothing once stdin has been ended (it checks `writable`), and
 * exec always ends stdin, so this goes one layer down; ssh2 is pinned to an exact version.
 */
export function sendSignal(channel: ClientChannel, signalName: "TERM" | "KILL"): void {
  const internals = channel as unknown as Ssh2ChannelInternals;
  try {
    const outgoing = internals.outgoing;
    const protocol = internals._client?._protocol;
    if (outgoing && (outgoing.state === "open" || outgoing.state === "eof") && protocol) {
      protocol.signal(outgoing.id, signalName);
    } else {
      channel.signal(signalName);
    }
  } catch {
    // the channel or connection is already gone: closing it below is all that is left
  }
}

/** Printed first on stderr by commands with a timeout, so they can be killed; never shown. */
const PROCESS_GROUP_MARKER = "dockfleet-process-group:";
export const PROCESS_GROUP_REPORT = `printf '${PROCESS_GROUP_MARKER}%s\\n' "$$" >&2\n`;

/** Takes the process group marker line off the front of stderr and passes the rest on. */
export class ProcessGroupSniffer {
  id: number | undefined;
  private head: Buffer | undefined;

  constructor(
    private readonly stderr: LineCollector,
    expectMarker: boolean,
  ) {
    this.head = expectMarker ? Buffer.alloc(0) : undefined;
  }

  push(chunk: Buffer): void {
    if (this.head === undefined) return this.stderr.push(chunk);
    this.head = Buffer.concat([this.head, chunk]);
    const newline = this.head.indexOf(0x0a);
    if (newline < 0) return;
    const firstLine = this.head.subarray(0, newline).toString("latin1");
    const match = firstLine.match(new RegExp(`^${PROCESS_GROUP_MARKER}(\\d+)$`));
    const rest = match ? this.head.subarray(newline + 1) : this.head;
    if (match) this.id = Number(match[1]);
    this.head = undefined;
    if (rest.length > 0) this.stderr.push(rest);
  }

  flush(): void {
    if (this.head && this.head.length > 0) this.stderr.push(this.head);
    this.head = undefined;
  }
}

export function resolvesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Collects a stream's text and hands complete lines to a callback as they arrive. Chunks are
 * bytes (an SSH channel) or text already decoded (a stream with an encoding set, as execFile's
 * stdout): the decoder holds back a UTF-8 character split across byte chunks and passes text on.
 */
export class LineCollector {
  text = "";
  private readonly decoder = new StringDecoder("utf8");
  private partialLine = "";

  constructor(private readonly onLine?: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const piece = this.decoder.write(chunk);
    this.text += piece;
    if (!this.onLine) return;
    const lines = (this.partialLine + piece).split("\n");
    this.partialLine = lines.pop() ?? "";
    for (const line of lines) this.onLine(line.replace(/\r$/, ""));
  }

  flush(): void {
    const rest = this.decoder.end();
    this.text += rest;
    const last = this.partialLine + rest;
    this.partialLine = "";
    if (this.onLine && last !== "") this.onLine(last);
  }
}

/** Bounds the channels open at once on one connection (sshd refuses more than MaxSessions). */
export class ChannelLimiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
