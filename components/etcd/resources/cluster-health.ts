import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import { ETCD_PKI_PATHS, ETCD_TEARDOWN_KEY, type EtcdMemberEntry, type EtcdPeer } from "../plan";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import { RemoteEtcdctl } from "./etcdctl";
import type { StepLog } from "../../../provision/dynamic/log";
import {
  isAnotherHost,
  isReachedDifferently,
  runRemoteStep,
  runUndoStep,
} from "../../../provision/dynamic/remote-step";
import { pollUntil } from "../../../provision/dynamic/poll";
import { renderProgress } from "../../../provision/dynamic/progress";

// ---- EtcdBootstrap: the facts of the cluster's first start -------------------------------------

interface EtcdBootstrapInputs {
  token: string;
  /** The members the program plans when the cluster is first created. */
  peers: EtcdPeer[];
}

export const etcdBootstrapProvider: pulumi.dynamic.ResourceProvider<
  EtcdBootstrapInputs,
  EtcdBootstrapInputs
> = {
  async create(inputs) {
    return { id: `etcd-bootstrap:${inputs.token}`, outs: inputs };
  },
  async diff() {
    // Deliberately never changes: later members join through `member add`, not a new bootstrap,
    // and the token only mattered at the first start.
    return { changes: false };
  },
};

const etcdBootstrapSpec = {
  type: "EtcdBootstrap",
  module: __filename,
  provider: "etcdBootstrapProvider",
};

/**
 * Records which members started the cluster (and its token) once, at creation; the record never
 * changes afterwards. A member planned later sees it is not one of them and joins instead.
 */
export class EtcdBootstrap extends DynamicResource {
  declare readonly token: pulumi.Output<string>;
  declare readonly peers: pulumi.Output<EtcdPeer[]>;

  constructor(
    name: string,
    args: { token: string; peers: pulumi.Input<pulumi.Input<EtcdPeer>[]> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(etcdBootstrapSpec, name, args, opts);
  }
}

// ---- EtcdClusterHealth: wait until every planned member is healthy -----------------------------

interface EtcdClusterHealthInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  etcdctlPath: string;
  /** Client URLs of every planned member. */
  endpoints: string[];
  /** Names of every planned member: each must be listed as started. */
  memberNames: string[];
  /** The client and peer CAs: when they change, every member restarted and is waited for here. */
  caCertPem: string;
  peerCaCertPem: string;
  timeoutSeconds: number;
}

/**
 * Removes the members no longer planned, each only when quorum is kept: first those that do not
 * answer (their host went away before their own delete could reach it, or an interrupted attempt
 * added them but never started them), then those that do. A member leaving the plan is removed
 * here, by a member that stays, before its own delete runs: its certificates are revoked in the
 * same `up` (the members already read the new lists), so it could not reach the others to remove
 * itself; its delete then only stops it and wipes its data.
 */
async function removeUnplannedMembers(
  ctl: RemoteEtcdctl,
  inputs: EtcdClusterHealthInputs,
  listed: EtcdMemberEntry[],
  log: StepLog,
): Promise<void> {
  let members = listed;
  for (;;) {
    const unplanned = members.filter((member) => !inputs.memberNames.includes(member.name));
    const healthy = await ctl.healthyEndpoints(unplanned.flatMap((member) => member.clientUrls));
    const dead = unplanned.find(
      (member) => !member.clientUrls.some((url) => healthy.includes(url)),
    );
    const removed = dead ?? unplanned[0];
    if (removed === undefined) return;
    const name = removed.name || `${removed.id} (never started)`;
    if (dead === undefined) {
      log.info(`etcd member ${name} is no longer planned: removing it from the cluster`);
    } else {
      log.warn(`etcd member ${name} is not planned and does not answer: removing it`);
    }
    await ctl.removeMember(members, removed, name, log);
    members = (await ctl.listMembers(inputs.endpoints)) ?? [];
  }
}

async function waitForCluster(inputs: EtcdClusterHealthInputs): Promise<void> {
  await runRemoteStep(
    inputs,
    "wait for a healthy etcd cluster",
    async (client, log) => {
      const ctl = new RemoteEtcdctl(client, inputs.etcdctlPath, ETCD_PKI_PATHS);
      const waitStarted = Date.now();
      await ctl.waitUntilHealthy(inputs.endpoints, inputs.timeoutSeconds * 1000, log);
      let members: EtcdMemberEntry[] = [];
      let missing: string[] = [];
      const allStarted = await pollUntil(
        async () => {
          members = (await ctl.listMembers(inputs.endpoints)) ?? [];
          const started = members.filter((member) => member.status === "started");
          missing = inputs.memberNames.filter(
            (name) => !started.some((member) => member.name === name),
          );
          return missing.length === 0 ? members : undefined;
        },
        {
          // The health wait above counts toward the same timeout.
          timeoutMs: inputs.timeoutSeconds * 1000 - (Date.now() - waitStarted),
          intervalMs: 1000,
          onWait: () =>
            log.progress(
              renderProgress({
                what: "members started",
                done: inputs.memberNames.length - missing.length,
                total: inputs.memberNames.length,
                detail: `waiting for ${missing.join(", ")}`,
              }),
            ),
        },
      );
      if (allStarted === undefined) {
        throw new Error(
          `etcd members ${missing.join(", ")} are not started members of the cluster after ` +
            `${inputs.timeoutSeconds} s (the cluster lists: ${members.map((m) => m.name || m.id).join(", ")})`,
        );
      }
      log.info(`${inputs.endpoints.length} member(s) healthy: ${inputs.memberNames.join(", ")}`);
      await removeUnplannedMembers(ctl, inputs, allStarted, log);
      // Left by a destroy that stopped halfway: the members kept must leave one by one again.
      await ctl.delete(inputs.endpoints, ETCD_TEARDOWN_KEY);
    },
    { ownWaitMs: inputs.timeoutSeconds * 1000 },
  );
}

export const etcdClusterHealthProvider: pulumi.dynamic.ResourceProvider<
  EtcdClusterHealthInputs,
  EtcdClusterHealthInputs
> = {
  async create(inputs) {
    await waitForCluster(inputs);
    return { id: `${inputs.host}-etcd-health`, outs: inputs };
  },
  async diff(_id, olds, news) {
    const changes =
      JSON.stringify(olds.endpoints) !== JSON.stringify(news.endpoints) ||
      JSON.stringify(olds.memberNames) !== JSON.stringify(news.memberNames) ||
      // The member's host made anew (another key): the state must name the machine that is there.
      isAnotherHost(olds.connection, news.connection) ||
      isReachedDifferently(olds.connection, news.connection) ||
      olds.caCertPem !== news.caCertPem ||
      olds.peerCaCertPem !== news.peerCaCertPem;
    return { changes };
  },
  async update(_id, _olds, news) {
    await waitForCluster(news);
    return { outs: news };
  },
  async delete(_id, props) {
    // Deleted only with the whole cluster, before any member (they come first in its inputs).
    await runUndoStep(props, "mark the etcd cluster as being removed", async (client, log) => {
      const ctl = new RemoteEtcdctl(client, props.etcdctlPath, ETCD_PKI_PATHS);
      const marked = await ctl.put(props.endpoints, ETCD_TEARDOWN_KEY, new Date().toISOString());
      log.info(
        marked
          ? "marked: the members stop without membership changes"
          : "no quorum to mark it: the members leave one by one",
      );
    });
  },
};

export type EtcdClusterHealthArgs = ResourceArgs<EtcdClusterHealthInputs>;

const etcdClusterHealthSpec = {
  type: "EtcdClusterHealth",
  module: __filename,
  provider: "etcdClusterHealthProvider",
};

/**
 * Waits, on create and whenever the member set or a CA changes, until every member answers healthy
 * (commits a proposal) and is a started member; runs etcdctl on one member's host.
 */
export class EtcdClusterHealth extends DynamicResource {
  declare readonly endpoints: pulumi.Output<string[]>;

  constructor(name: string, args: EtcdClusterHealthArgs, opts?: pulumi.CustomResourceOptions) {
    super(etcdClusterHealthSpec, name, args, opts);
  }
}
