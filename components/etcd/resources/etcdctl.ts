import {
  checkRemovalKeepsQuorum,
  parseEtcdMemberList,
  parseHealthyEndpoints,
  renderEtcdctlCommand,
  type EtcdctlTls,
  type EtcdMemberEntry,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import type { StepLog } from "../../../provision/dynamic/log";
import { pollUntil } from "../../../provision/dynamic/poll";
import { renderProgress } from "../../../provision/dynamic/progress";

/** How long a membership change is retried while etcd answers "unhealthy cluster". */
const MEMBERSHIP_CHANGE_TIMEOUT_MS = 60_000;

/**
 * etcdctl run over SSH on a host that has it (every member host): the membership and health
 * calls the etcd providers make. The TLS files named are on that host.
 */
export class RemoteEtcdctl {
  constructor(
    private readonly client: SshClient,
    private readonly etcdctlPath: string,
    private readonly tls: EtcdctlTls,
  ) {}

  private async run(endpoints: readonly string[], command: string[], commandTimeoutSeconds = 5) {
    const result = await this.client.exec(
      renderEtcdctlCommand({
        etcdctlPath: this.etcdctlPath,
        tls: this.tls,
        endpoints,
        command,
        commandTimeoutSeconds,
      }),
      { timeoutMs: (commandTimeoutSeconds + 10) * 1000 },
    );
    const output = `${result.stdout}\n${result.stderr}`;
    return { ok: result.code === 0, stdout: result.stdout, output };
  }

  /** The member list from the first endpoint that answers with quorum, or undefined. */
  async listMembers(endpoints: readonly string[]): Promise<EtcdMemberEntry[] | undefined> {
    if (endpoints.length === 0) return undefined;
    const result = await this.run(endpoints, ["member", "list"]);
    return result.ok ? parseEtcdMemberList(result.stdout) : undefined;
  }

  /** Writes a key through the endpoints (needs quorum); false when no endpoint took it. */
  async put(endpoints: readonly string[], key: string, value: string): Promise<boolean> {
    return (await this.run(endpoints, ["put", key, value])).ok;
  }

  async delete(endpoints: readonly string[], key: string): Promise<void> {
    const result = await this.run(endpoints, ["del", key]);
    if (!result.ok) throw new Error(`etcdctl del ${key} failed:\n${result.output.trim()}`);
  }

  /**
   * A key's value as the first endpoint that answers has it (a serializable read: no quorum
   * needed), or undefined when the key is not set or no endpoint answered.
   */
  async readLocally(endpoints: readonly string[], key: string): Promise<string | undefined> {
    if (endpoints.length === 0) return undefined;
    const result = await this.run(endpoints, ["get", "--consistency=s", "--print-value-only", key]);
    const value = result.stdout.trim();
    return result.ok && value !== "" ? value : undefined;
  }

  /** The endpoints (of those given) that commit a proposal now. */
  async healthyEndpoints(endpoints: readonly string[]): Promise<string[]> {
    const healthy = await Promise.all(
      endpoints.map(async (endpoint) => {
        const result = await this.run([endpoint], ["endpoint", "health"]);
        return result.ok ? parseHealthyEndpoints(result.output) : [];
      }),
    );
    return healthy.flat();
  }

  /**
   * Waits until every endpoint is healthy, or fails after timeoutMs naming the ones that are not.
   */
  async waitUntilHealthy(endpoints: readonly string[], timeoutMs: number, log: StepLog) {
    let unhealthy: string[] = [];
    let nextMessage = Date.now() + 10_000;
    const healthy = await pollUntil(
      async () => {
        const answering = await this.healthyEndpoints(endpoints);
        unhealthy = endpoints.filter((endpoint) => !answering.includes(endpoint));
        return unhealthy.length === 0 ? true : undefined;
      },
      {
        timeoutMs,
        intervalMs: 1000,
        onWait: () => {
          // Checked every second, said every 10 s at most.
          if (Date.now() <= nextMessage) return;
          log.progress(
            renderProgress({
              what: "members healthy",
              done: endpoints.length - unhealthy.length,
              total: endpoints.length,
              detail: `waiting for ${unhealthy.join(", ")}`,
            }),
          );
          nextMessage = Date.now() + 10_000;
        },
      },
    );
    if (healthy === undefined) {
      throw new Error(
        `etcd members at ${unhealthy.join(", ")} were not healthy after ${timeoutMs / 1000} s; ` +
          `see \`journalctl -u etcd\` on their hosts (a member needs a quorum of its peers running)`,
      );
    }
  }

  /**
   * Runs a membership change (`member add` / `member remove`). etcd refuses one while the cluster
   * has not been healthy for a few seconds (strict reconfig check, "unhealthy cluster"), so that
   * answer is retried for up to timeoutMs.
   */
  async changeMembership(
    endpoints: readonly string[],
    command: string[],
    log: StepLog,
  ): Promise<string> {
    const retryable = /unhealthy cluster|not enough started members|context deadline exceeded/i;
    let output = "";
    const failed = () =>
      new Error(
        `etcdctl ${command.join(" ")} failed against ${endpoints.join(",")}:\n${output.trim()}`,
      );
    const stdout = await pollUntil(
      async () => {
        const result = await this.run(endpoints, command, 15);
        if (result.ok) return result.stdout;
        output = result.output;
        if (!retryable.test(output)) throw failed();
        return undefined;
      },
      {
        timeoutMs: MEMBERSHIP_CHANGE_TIMEOUT_MS,
        intervalMs: 2000,
        onWait: () =>
          log.progress(
            `etcd is not ready for "${command.slice(0, 2).join(" ")}" yet: trying again`,
          ),
      },
    );
    if (stdout === undefined) throw failed();
    return stdout;
  }

  /**
   * `member remove` through the healthy members left, refused (before etcd would) when those
   * would not be a quorum of the smaller cluster.
   */
  async removeMember(
    members: readonly EtcdMemberEntry[],
    removed: EtcdMemberEntry,
    name: string,
    log: StepLog,
  ): Promise<void> {
    const others = members.filter((member) => member !== removed);
    const healthy = await this.healthyEndpoints(others.flatMap((member) => member.clientUrls));
    checkRemovalKeepsQuorum({
      member: name,
      clusterSize: members.length,
      healthyOthers: others.filter((member) =>
        member.clientUrls.some((url) => healthy.includes(url)),
      ).length,
    });
    await this.changeMembership(healthy, ["member", "remove", removed.id], log);
    log.info(`removed ${name} (${removed.id}); ${others.length} member(s) left`);
  }
}
