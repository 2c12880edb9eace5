import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../../provision/dynamic/resource";
import {
  ETCD_CRL_PATHS,
  ETCD_PEER_PKI_PATHS,
  ETCD_PKI_PATHS,
  ETCD_STAGING_DIR,
  ETCD_TEARDOWN_KEY,
  planEtcdJoin,
  renderEtcdDropIn,
  renderEtcdEnv,
  renderEtcdUrl,
  type EtcdJoinPlan,
  type EtcdMemberSettings,
  type EtcdPeer,
} from "../plan";
import type { SshClient } from "../../../provision/ssh/client";
import { shellQuote } from "../../../provision/ssh/shell";
import type { SshConnectionArgs } from "../../../provision/ssh/types";
import { RemoteEtcdctl } from "./etcdctl";
import { probeFiles, withHostFacts } from "../../../provision/dynamic/host-facts";
import type { StepLog } from "../../../provision/dynamic/log";
import {
  diffRemoteStep,
  runRemoteStep,
  runScript,
  runUndoStep,
  uploadFiles,
} from "../../../provision/dynamic/remote-step";

export interface EtcdMemberInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
  /** components/etcd/scripts/configure-etcd.sh */
  script: string;
  name: string;
  privateAddress: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  token: string;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  enableV2: boolean;
  extraFlags: Record<string, string>;
  /** The client CA; the member's certificate from it (client port, etcdctl); its CRL. */
  caCertPem: string;
  certPem: string;
  keyPem: string;
  clientCrlPem: string;
  /** The peer CA; the member's peer certificate from it (peer port only); its CRL. */
  peerCaCertPem: string;
  peerCertPem: string;
  peerKeyPem: string;
  peerCrlPem: string;
  etcdctlPath: string;
  /** The members the cluster was first started with (EtcdBootstrap's record). */
  bootstrapPeers: EtcdPeer[];
  /** Client URLs of the other planned members: where a new member asks to join. */
  peerEndpoints: string[];
  healthTimeoutSeconds: number;
}

interface EtcdMemberOutputs extends EtcdMemberInputs {
  /** How the member joined (EtcdJoinPlan action). */
  joinedBy: EtcdJoinPlan["action"];
  /** What it was first started with; kept, so a later config change restarts it alike. */
  initialCluster: string;
  initialClusterState: "new" | "existing";
}

/** Changes that mean another member: it leaves, and a new one joins (in that order). */
const REPLACE_KEYS = ["name", "privateAddress", "peerPort", "dataDir"] as const;
/** Changes applied in place: the config is rewritten and the member restarted. */
const UPDATE_KEYS = [
  "script",
  "clientPort",
  "heartbeatIntervalMs",
  "electionTimeoutMs",
  "enableV2",
  "extraFlags",
  "caCertPem",
  "certPem",
  "keyPem",
  "clientCrlPem",
  "peerCaCertPem",
  "peerCertPem",
  "peerKeyPem",
  "peerCrlPem",
  "etcdctlPath",
] as const;

function peerUrlOf(inputs: EtcdMemberInputs): string {
  return renderEtcdUrl(inputs.privateAddress, inputs.peerPort);
}

function clientUrlOf(inputs: EtcdMemberInputs): string {
  return renderEtcdUrl(inputs.privateAddress, inputs.clientPort);
}

function settingsOf(
  inputs: EtcdMemberInputs,
  start: Pick<EtcdMemberSettings, "initialCluster" | "initialClusterState">,
): EtcdMemberSettings {
  return {
    name: inputs.name,
    privateAddress: inputs.privateAddress,
    clientPort: inputs.clientPort,
    peerPort: inputs.peerPort,
    dataDir: inputs.dataDir,
    initialCluster: start.initialCluster,
    initialClusterState: start.initialClusterState,
    initialClusterToken: inputs.token,
    heartbeatIntervalMs: inputs.heartbeatIntervalMs,
    electionTimeoutMs: inputs.electionTimeoutMs,
    enableV2: inputs.enableV2,
    extraFlags: inputs.extraFlags,
  };
}

const staged = (file: string) => `${ETCD_STAGING_DIR}/${file}`;

async function stageCertificates(client: SshClient, inputs: EtcdMemberInputs): Promise<void> {
  await uploadFiles(client, ETCD_STAGING_DIR, [
    { path: staged("ca.pem"), content: inputs.caCertPem, mode: 0o644 },
    { path: staged("member.pem"), content: inputs.certPem, mode: 0o644 },
    { path: staged("member-key.pem"), content: inputs.keyPem, mode: 0o600 },
    { path: staged("client-crl.pem"), content: inputs.clientCrlPem, mode: 0o644 },
    { path: staged("peer-ca.pem"), content: inputs.peerCaCertPem, mode: 0o644 },
    { path: staged("peer.pem"), content: inputs.peerCertPem, mode: 0o644 },
    { path: staged("peer-key.pem"), content: inputs.peerKeyPem, mode: 0o600 },
    { path: staged("peer-crl.pem"), content: inputs.peerCrlPem, mode: 0o644 },
  ]);
}

/** Uploads the config and runs configure-etcd.sh; true when something changed (a restart). */
async function applyConfig(
  client: SshClient,
  inputs: EtcdMemberInputs,
  settings: EtcdMemberSettings,
  wipeData: boolean,
  log: StepLog,
): Promise<boolean> {
  await stageCertificates(client, inputs);
  await client.putContent(staged("etcd.env"), renderEtcdEnv(settings), 0o644);
  await client.putContent(staged("dockfleet.conf"), renderEtcdDropIn(), 0o644);
  const result = await runScript(
    client,
    inputs.script,
    { ETCD_DATA_DIR: inputs.dataDir, ETCD_WIPE_DATA: wipeData ? "1" : "0" },
    log,
  );
  return result.changed === "1";
}

async function join(inputs: EtcdMemberInputs): Promise<EtcdMemberOutputs> {
  return runRemoteStep(inputs, "start etcd member", async (client, log) => {
    await stageCertificates(client, inputs);
    const stagedCtl = new RemoteEtcdctl(client, inputs.etcdctlPath, {
      caPath: staged("ca.pem"),
      certPath: staged("member.pem"),
      keyPath: staged("member-key.pem"),
    });
    const self = { name: inputs.name, peerUrl: peerUrlOf(inputs) };
    const members = await stagedCtl.listMembers(inputs.peerEndpoints);
    const hasLocalData =
      (await client.exec(`test -d ${shellQuote(`${inputs.dataDir}/member`)}`)).code === 0;
    const plan = planEtcdJoin({
      self,
      bootstrapPeers: inputs.bootstrapPeers,
      members,
      hasLocalData,
    });
    log.info(
      members === undefined
        ? `no member answered: bootstrapping with ${plan.initialCluster}`
        : `the cluster has ${members.length} member(s): ${plan.action}`,
    );
    if (plan.action === "replace-stale" && members !== undefined) {
      log.warn(
        `${inputs.name} is listed as member ${plan.stale.id} but this host has no member ` +
          `data (it was recreated): removing the stale member, then joining as a new one`,
      );
      await stagedCtl.removeMember(members, plan.stale, inputs.name, log);
    }
    if (plan.action === "add" || plan.action === "replace-stale") {
      await stagedCtl.changeMembership(
        inputs.peerEndpoints,
        ["member", "add", inputs.name, `--peer-urls=${self.peerUrl}`],
        log,
      );
      log.info(`added ${inputs.name} (${self.peerUrl}) to the cluster`);
    }
    const wipeData = plan.action !== "bootstrap" && plan.action !== "already-member";
    await applyConfig(client, inputs, settingsOf(inputs, plan), wipeData, log);
    // A bootstrap member becomes healthy only with its peers, which may start after it:
    // EtcdClusterHealth waits for all of them. A member that joined a running cluster is
    // waited for here, so the next membership change finds the cluster whole.
    if (plan.action !== "bootstrap") {
      await new RemoteEtcdctl(client, inputs.etcdctlPath, ETCD_PKI_PATHS).waitUntilHealthy(
        [clientUrlOf(inputs)],
        inputs.healthTimeoutSeconds * 1000,
        log,
      );
    }
    return {
      ...inputs,
      joinedBy: plan.action,
      initialCluster: plan.initialCluster,
      initialClusterState: plan.initialClusterState,
    };
  });
}

/**
 * Removes the member from the cluster and stops it; a host that is already gone has none left
 * (the member is replaced when the host comes back, see planEtcdJoin). When the whole cluster is
 * being removed (ETCD_TEARDOWN_KEY), it only stops: membership changes would be refused by a
 * cluster with a member down, and keep nothing.
 */
async function leave(props: EtcdMemberOutputs): Promise<void> {
  await runUndoStep(props, "remove etcd member", async (client, log) => {
    const ctl = new RemoteEtcdctl(client, props.etcdctlPath, ETCD_PKI_PATHS);
    const endpoints = [...new Set([clientUrlOf(props), ...props.peerEndpoints])];
    const teardown = await ctl.readLocally(endpoints, ETCD_TEARDOWN_KEY);
    if (teardown !== undefined) {
      log.info(`the whole cluster is being removed (since ${teardown}): stopping ${props.name}`);
    } else {
      const members = await ctl.listMembers(endpoints);
      if (members === undefined) {
        if (!(await removedByTheCluster(client))) {
          throw new Error(
            `no etcd member answered at ${endpoints.join(", ")} with quorum, so ${props.name} ` +
              `cannot be removed from the cluster safely. Start the stopped members and run again; ` +
              `to drop the member from dockfleet's state anyway: pulumi state delete <its URN>`,
          );
        }
        log.info(
          `the cluster removed ${props.name} already (EtcdClusterHealth) and refuses its revoked ` +
            "certificates: stopping it",
        );
      } else {
        const self = members.find((member) => member.peerUrls.includes(peerUrlOf(props)));
        if (self !== undefined && members.length > 1) {
          await ctl.removeMember(members, self, props.name, log);
        } else if (self !== undefined) {
          log.info(`${props.name} is the last member: stopping it`);
        }
      }
    }
    await runScript(
      client,
      props.script,
      { ETCD_ACTION: "remove", ETCD_DATA_DIR: props.dataDir },
      log,
    );
  });
}

/**
 * Whether the member's etcd stopped because the cluster removed it: etcd logs its ErrMemberRemoved
 * ("the member has been permanently removed from the cluster") and exits.
 */
async function removedByTheCluster(client: SshClient): Promise<boolean> {
  const journal = await client.exec(
    "journalctl --unit etcd.service --no-pager --output cat --lines 200 2>/dev/null || true",
  );
  return journal.stdout.includes("permanently removed from the cluster");
}

/** The member's files (configure-etcd.sh's places) and whether etcd runs. */
const ETCD_MEMBER_PROBE = [
  probeFiles({
    ...ETCD_PKI_PATHS,
    ...ETCD_PEER_PKI_PATHS,
    ...ETCD_CRL_PATHS,
    env: "/etc/default/etcd",
    dropIn: "/etc/systemd/system/etcd.service.d/dockfleet.conf",
  }),
  `echo "etcd=$(systemctl is-active etcd)"`,
].join("\n");

export const etcdMemberProvider = withHostFacts<EtcdMemberInputs, EtcdMemberOutputs>(
  {
    async create(inputs) {
      return { id: `${inputs.host}-etcd-member`, outs: await join(inputs) };
    },
    async diff(_id, olds, news) {
      const step = diffRemoteStep(olds, news, UPDATE_KEYS);
      const replaces = [...REPLACE_KEYS.filter((key) => olds[key] !== news[key]), ...step.replaces];
      const changes = replaces.length > 0 || step.changes;
      // The token and the bootstrap record matter only at the first start; peer endpoints only
      // for joining and leaving: none of them changes a running member.
      return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id, olds, news) {
      const outs: EtcdMemberOutputs = {
        ...news,
        joinedBy: olds.joinedBy,
        initialCluster: olds.initialCluster,
        initialClusterState: olds.initialClusterState,
      };
      await runRemoteStep(news, "reconfigure etcd member", async (client, log) => {
        const restarted = await applyConfig(client, news, settingsOf(news, olds), false, log);
        // Under another CA, the member cannot reach the peers that have not switched yet (they
        // come after it, one at a time); a majority has switched by the middle member, and the
        // cluster's health is waited for once all have (EtcdClusterHealth watches the CAs).
        const caSwitched =
          olds.caCertPem !== news.caCertPem || olds.peerCaCertPem !== news.peerCaCertPem;
        if (restarted && caSwitched) {
          log.info("switched to the cluster's new CAs: it rejoins as its peers switch too");
        } else if (restarted) {
          // One member at a time (each depends on the one before): healthy again before the next.
          await new RemoteEtcdctl(client, news.etcdctlPath, ETCD_PKI_PATHS).waitUntilHealthy(
            [clientUrlOf(news)],
            news.healthTimeoutSeconds * 1000,
            log,
          );
        }
        log.info(restarted ? "config applied, member restarted and healthy" : "unchanged");
      });
      return { outs };
    },
    async delete(_id, props) {
      await leave(props);
    },
  },
  () => ETCD_MEMBER_PROBE,
);

export type EtcdMemberArgs = ResourceArgs<EtcdMemberInputs>;

const etcdMemberSpec = {
  type: "EtcdMember",
  module: __filename,
  provider: "etcdMemberProvider",
  secrets: ["keyPem", "peerKeyPem"],
  outputs: ["joinedBy", "initialCluster", "initialClusterState"],
};

/**
 * One etcd member on one host: its TLS files and config, started as etcd.service. Created, it
 * bootstraps with its peers or joins the running cluster (`member add`); deleted, it leaves
 * (`member remove`, refused when that would lose quorum) and its data is wiped.
 */
export class EtcdMember extends DynamicResource {
  declare readonly joinedBy: pulumi.Output<string>;
  declare readonly initialCluster: pulumi.Output<string>;

  constructor(name: string, args: EtcdMemberArgs, opts?: pulumi.CustomResourceOptions) {
    super(etcdMemberSpec, name, args, opts);
  }
}
