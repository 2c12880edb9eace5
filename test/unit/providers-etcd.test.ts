/**
 * The etcd providers (member join and leave, cluster health) against fake hosts: a small model of
 * an etcd cluster answers the etcdctl commands the providers send over SSH, and the tests check
 * what was sent, in which order and through which members.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import { readScript } from "../../provision/dynamic/remote-step";
import {
  ETCD_STAGING_DIR,
  ETCD_TEARDOWN_KEY,
  etcdQuorum,
  renderEtcdUrl,
} from "../../components/etcd/plan";
import { etcdMemberProvider } from "../../components/etcd/resources/etcd-member";
import { etcdClusterHealthProvider } from "../../components/etcd/resources/cluster-health";
import {
  FakeCommander,
  commandLinesWith,
  fakeHostsPerTest,
  outputsOf,
  scriptResult,
  type RecordedCommand,
} from "../helpers/fake-ssh";

type MemberInputs = Parameters<typeof etcdMemberProvider.create>[0];
type MemberOutputs = Parameters<NonNullable<typeof etcdMemberProvider.delete>>[1];
type HealthInputs = Parameters<typeof etcdClusterHealthProvider.create>[0];

const CONFIGURE_SCRIPT = readScript(
  path.join(__dirname, "../../components/etcd"),
  "configure-etcd.sh",
);
const ETCDCTL = "/usr/bin/etcdctl";
const address = (n: number) => `10.0.0.${n}`;
const clientUrl = (n: number) => renderEtcdUrl(address(n), 2379);
const peerUrl = (n: number) => renderEtcdUrl(address(n), 2380);
const keyPem = (n: number) =>
  `-----BEGIN PRIVATE KEY-----\nSECRET-MEMBER-KEY-${n}\n-----END PRIVATE KEY-----\n`;

// ---- A model of an etcd cluster, answering etcdctl as the hosts would --------------------------

interface ModelMember {
  id: string;
  /** "" until it has started. */
  name: string;
  peerUrl: string;
  /** "" until it has started (published itself). */
  clientUrl: string;
  started: boolean;
  /** Its etcd process runs and answers. */
  running: boolean;
}

/** One etcdctl call as renderEtcdctlCommand wrote it. */
interface EtcdctlCall {
  endpoints: string[];
  cacert: string;
  args: string[];
}

function parseEtcdctl(command: string): EtcdctlCall {
  assert.match(command, /^ETCDCTL_API=3 /);
  const words = [...command.matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) =>
    m[1].replaceAll(`'\\''`, "'"),
  );
  assert.equal(words[0], ETCDCTL);
  const flag = (name: string) => words.find((word) => word.startsWith(`--${name}=`))?.split("=")[1];
  const firstArg = words.findIndex((word, i) => i > 0 && !word.startsWith("--"));
  return {
    endpoints: (flag("endpoints") ?? "").split(","),
    cacert: flag("cacert") ?? "",
    args: words.slice(firstArg),
  };
}

class EtcdModel {
  readonly members: ModelMember[] = [];
  readonly keys = new Map<string, string>();
  private nextId = 0x1000;

  /** A member that has run before: started, named, publishing its client URL. */
  addStarted(n: number, running = true): ModelMember {
    const member = {
      id: (this.nextId++).toString(16),
      name: `host-${n}`,
      peerUrl: peerUrl(n),
      clientUrl: clientUrl(n),
      started: true,
      running,
    };
    this.members.push(member);
    return member;
  }

  member(n: number): ModelMember | undefined {
    return this.members.find((member) => member.peerUrl === peerUrl(n));
  }

  private get quorate(): boolean {
    const running = this.members.filter((member) => member.running).length;
    return this.members.length > 0 && running >= etcdQuorum(this.members.length);
  }

  /** Whether some endpoint is a running member of a cluster with quorum. */
  private answers(endpoints: string[]): boolean {
    return (
      this.quorate &&
      endpoints.some((url) => this.members.some((m) => m.running && m.clientUrl === url))
    );
  }

  /** The answer to one etcdctl command line. */
  etcdctl(command: string): { stdout?: string; stderr?: string; code?: number } {
    const { endpoints, args } = parseEtcdctl(command);
    const [verb, sub] = args;
    const noQuorum = {
      code: 1,
      stderr: "Error: context deadline exceeded\n",
    };
    if (verb === "endpoint" && sub === "health") {
      assert.equal(endpoints.length, 1, "endpoint health is asked one endpoint at a time");
      return this.answers(endpoints)
        ? { stdout: `${endpoints[0]} is healthy: successfully committed proposal: took = 2ms\n` }
        : {
            code: 1,
            stderr: `${endpoints[0]} is unhealthy: failed to commit proposal: context deadline exceeded\n`,
          };
    }
    if (verb === "get") {
      // --consistency=s: a serializable read, which any running member answers without quorum.
      assert.equal(sub, "--consistency=s");
      const running = endpoints.some((url) =>
        this.members.some((m) => m.running && m.clientUrl === url),
      );
      if (!running) return noQuorum;
      const key = args[args.length - 1];
      return { stdout: this.keys.has(key) ? `${this.keys.get(key)}\n` : "" };
    }
    if (!this.answers(endpoints)) return noQuorum;
    if (verb === "member" && sub === "list") {
      const lines = this.members.map(
        (m) =>
          `${m.id}, ${m.started ? "started" : "unstarted"}, ${m.name}, ${m.peerUrl}, ${m.clientUrl}, false`,
      );
      return { stdout: lines.map((line) => `${line}\n`).join("") };
    }
    if (verb === "member" && sub === "add") {
      const url = args[3].replace(/^--peer-urls=/, "");
      const id = (this.nextId++).toString(16);
      this.members.push({
        id,
        name: "",
        peerUrl: url,
        clientUrl: "",
        started: false,
        running: false,
      });
      return { stdout: `Member ${id} added to cluster 1c45a069f3a1d796\n` };
    }
    if (verb === "member" && sub === "remove") {
      const index = this.members.findIndex((member) => member.id === args[2]);
      assert.ok(index >= 0, `member remove of an unknown member ${args[2]}`);
      this.members.splice(index, 1);
      return { stdout: `Member ${args[2]} removed from cluster 1c45a069f3a1d796\n` };
    }
    if (verb === "put") {
      this.keys.set(args[1], args[2]);
      return { stdout: "OK\n" };
    }
    if (verb === "del") {
      return { stdout: this.keys.delete(args[1]) ? "1\n" : "0\n" };
    }
    throw new Error(`the etcd model does not know etcdctl ${args.join(" ")}`);
  }
}

/**
 * Host n with the commands a member host answers: etcdctl through the model, the data dir test,
 * the install of the staging dir and configure-etcd.sh (which starts or stops the member).
 */
function etcdHost(
  model: EtcdModel,
  n: number,
  opts: { hasData?: boolean; changed?: boolean; journal?: string } = {},
) {
  return new FakeCommander(`${address(n)}:22`)
    .on(/^ETCDCTL_API=3 /, (call) => model.etcdctl(call.command))
    .on(/^journalctl --unit etcd\.service /, { stdout: opts.journal ?? "" })
    .on(/^test -d '\/var\/lib\/etcd\/member'$/, { code: opts.hasData ? 0 : 1 })
    .on(new RegExp(`^install -d -m 0700 ${ETCD_STAGING_DIR}$`), {})
    .on(/^bash -s$/, (call) => configureEtcd(model, n, call, opts.changed ?? true));
}

function configureEtcd(model: EtcdModel, n: number, call: RecordedCommand, changed: boolean) {
  assert.equal(call.stdin, CONFIGURE_SCRIPT);
  const member = model.member(n);
  if (call.env.ETCD_ACTION === "remove") {
    if (member) member.running = false;
  } else if (member) {
    Object.assign(member, { name: `host-${n}`, clientUrl: clientUrl(n), started: true });
    member.running = true;
  }
  return scriptResult({ changed: changed ? "1" : "0", active: "1" });
}

function memberInputs(n: number, overrides: Partial<MemberInputs> = {}): MemberInputs {
  return {
    host: `host-${n}`,
    connection: { host: address(n), port: 22, user: "root", privateKey: "fake ssh key" },
    logUrn: "",
    script: CONFIGURE_SCRIPT,
    name: `host-${n}`,
    privateAddress: address(n),
    clientPort: 2379,
    peerPort: 2380,
    dataDir: "/var/lib/etcd",
    token: "etcd-cluster-token",
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    enableV2: false,
    extraFlags: {},
    caCertPem: "CA CERT\n",
    certPem: `MEMBER CERT ${n}\n`,
    keyPem: keyPem(n),
    clientCrlPem: "CLIENT CRL\n",
    peerCaCertPem: "PEER CA CERT\n",
    peerCertPem: `PEER CERT ${n}\n`,
    peerKeyPem: `PEER KEY ${n}\n`,
    peerCrlPem: "PEER CRL\n",
    etcdctlPath: ETCDCTL,
    bootstrapPeers: [1, 2, 3].map((i) => ({ name: `host-${i}`, peerUrl: peerUrl(i) })),
    peerEndpoints: [1, 2, 3, 4].filter((i) => i !== n).map(clientUrl),
    healthTimeoutSeconds: 30,
    ...overrides,
  };
}

function memberOutputs(n: number, overrides: Partial<MemberOutputs> = {}): MemberOutputs {
  return {
    ...memberInputs(n),
    joinedBy: "bootstrap",
    initialCluster: [1, 2, 3].map((i) => `host-${i}=${peerUrl(i)}`).join(","),
    initialClusterState: "new",
    ...overrides,
  };
}

/** The etcdctl calls a host sent whose args start with `args`. */
function etcdctlCalls(host: FakeCommander, ...args: string[]): EtcdctlCall[] {
  return host
    .ran(/^ETCDCTL_API=3 /)
    .map((call) => parseEtcdctl(call.command))
    .filter((call) => args.every((arg, i) => call.args[i] === arg));
}

function indexOfEtcdctl(host: FakeCommander, ...args: string[]): number {
  return host.commands.findIndex(
    (call) =>
      call.command.startsWith("ETCDCTL_API=3 ") &&
      args.every((arg, i) => parseEtcdctl(call.command).args[i] === arg),
  );
}

const install = fakeHostsPerTest();

// ---- EtcdMember create ----------------------------------------------------------------------

describe("etcdMemberProvider.create", () => {
  it("adds a new member through its peers, then starts it with state existing", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    model.addStarted(2);
    const host3 = etcdHost(model, 3);
    install(host3);

    const { id, outs } = await outputsOf(
      etcdMemberProvider.create(
        memberInputs(3, {
          bootstrapPeers: [1, 2].map((i) => ({ name: `host-${i}`, peerUrl: peerUrl(i) })),
        }),
      ),
    );

    assert.equal(id, "host-3-etcd-member");
    assert.equal(outs.joinedBy, "add");
    assert.equal(outs.initialClusterState, "existing");
    assert.equal(
      outs.initialCluster,
      `host-1=${peerUrl(1)},host-2=${peerUrl(2)},host-3=${peerUrl(3)}`,
    );
    const [add, ...moreAdds] = etcdctlCalls(host3, "member", "add");
    assert.equal(moreAdds.length, 0);
    assert.deepEqual(add.args, ["member", "add", "host-3", `--peer-urls=${peerUrl(3)}`]);
    // Through the other members, with the TLS files staged before etcd's own are installed.
    assert.deepEqual(add.endpoints, [clientUrl(1), clientUrl(2), clientUrl(4)]);
    assert.equal(add.cacert, `${ETCD_STAGING_DIR}/ca.pem`);
    assert.equal(etcdctlCalls(host3, "member", "remove").length, 0);
    // Added before it starts; it starts empty (data wiped), as a member of the existing cluster.
    const configure = host3.indexOf(/^bash -s$/);
    assert.ok(indexOfEtcdctl(host3, "member", "add") < configure);
    assert.deepEqual(host3.commands[configure].env, {
      ETCD_DATA_DIR: "/var/lib/etcd",
      ETCD_WIPE_DATA: "1",
    });
    const env = host3.upload(`${ETCD_STAGING_DIR}/etcd.env`).content;
    assert.match(env, /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
    assert.match(env, new RegExp(`^ETCD_INITIAL_CLUSTER=${outs.initialCluster}$`, "m"));
    // Then waited for, healthy, through its own client URL and etcd's installed TLS files.
    const health = etcdctlCalls(host3, "endpoint", "health").at(-1)!;
    assert.deepEqual(health.endpoints, [clientUrl(3)]);
    assert.equal(health.cacert, "/etc/etcd/pki/ca.pem");
    assert.ok(indexOfEtcdctl(host3, "endpoint", "health") > configure);
    assert.equal(model.member(3)?.started, true);
  });

  it("uploads the member key with mode 0600 and never puts it on a command line", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    model.addStarted(2);
    const host3 = etcdHost(model, 3);
    install(host3);

    await etcdMemberProvider.create(memberInputs(3));

    const key = host3.upload(`${ETCD_STAGING_DIR}/member-key.pem`);
    assert.equal(key.content, keyPem(3));
    assert.equal(key.mode, 0o600);
    assert.deepEqual(commandLinesWith("SECRET-MEMBER-KEY", host3), []);
    assert.ok(host3.commands.every((call) => !JSON.stringify(call.env).includes("SECRET")));
  });

  it("replaces the stale member of a recreated host: member remove, then member add", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    model.addStarted(2);
    // Listed with its client URL (it ran before), not running: the host was recreated empty.
    const stale = model.addStarted(3, false);
    const host3 = etcdHost(model, 3, { hasData: false });
    install(host3);

    const { outs } = await outputsOf(etcdMemberProvider.create(memberInputs(3)));

    assert.equal(outs.joinedBy, "replace-stale");
    const [remove, ...moreRemoves] = etcdctlCalls(host3, "member", "remove");
    assert.equal(moreRemoves.length, 0);
    assert.deepEqual(remove.args, ["member", "remove", stale.id]);
    // Through the healthy members left, never through the stale one.
    assert.deepEqual(remove.endpoints, [clientUrl(1), clientUrl(2)]);
    assert.ok(indexOfEtcdctl(host3, "member", "remove") < indexOfEtcdctl(host3, "member", "add"));
    assert.ok(indexOfEtcdctl(host3, "member", "add") < host3.indexOf(/^bash -s$/));
    assert.equal(host3.ran(/^bash -s$/)[0].env.ETCD_WIPE_DATA, "1");
    assert.notEqual(model.member(3)?.id, stale.id);
    assert.equal(model.members.length, 3);
  });

  it("keeps a listed member whose data is on the host: no membership change, no wipe", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    model.addStarted(2);
    model.addStarted(3);
    const host3 = etcdHost(model, 3, { hasData: true });
    install(host3);

    const { outs } = await outputsOf(etcdMemberProvider.create(memberInputs(3)));

    assert.equal(outs.joinedBy, "already-member");
    assert.equal(etcdctlCalls(host3, "member", "add").length, 0);
    assert.equal(etcdctlCalls(host3, "member", "remove").length, 0);
    assert.equal(host3.ran(/^bash -s$/)[0].env.ETCD_WIPE_DATA, "0");
  });

  it("bootstraps with its peers, state new, when no member answers", async () => {
    const model = new EtcdModel();
    const host1 = etcdHost(model, 1);
    install(host1);

    const { outs } = await outputsOf(etcdMemberProvider.create(memberInputs(1)));

    assert.equal(outs.joinedBy, "bootstrap");
    assert.equal(outs.initialClusterState, "new");
    assert.equal(outs.initialCluster, [1, 2, 3].map((i) => `host-${i}=${peerUrl(i)}`).join(","));
    assert.match(
      host1.upload(`${ETCD_STAGING_DIR}/etcd.env`).content,
      /^ETCD_INITIAL_CLUSTER_STATE=new$/m,
    );
    assert.equal(host1.ran(/^bash -s$/)[0].env.ETCD_WIPE_DATA, "0");
    assert.equal(etcdctlCalls(host1, "member", "add").length, 0);
    // Its peers may start after it: EtcdClusterHealth waits for the whole cluster, not this step.
    assert.equal(etcdctlCalls(host1, "endpoint", "health").length, 0);
  });

  it("fails before configuring anything when a new member finds no cluster to join", async () => {
    const model = new EtcdModel();
    const host4 = etcdHost(model, 4);
    install(host4);

    await assert.rejects(
      etcdMemberProvider.create(memberInputs(4)),
      /host-4: step "start etcd member" failed[\s\S]*no existing member answered/,
    );
    assert.equal(host4.ran(/^bash -s$/).length, 0);
    assert.equal(etcdctlCalls(host4, "member", "add").length, 0);
  });
});

// ---- EtcdMember update and diff --------------------------------------------------------------

describe("etcdMemberProvider.update", () => {
  it("rewrites the config with the first start's settings, restarts, waits until healthy", async () => {
    const model = new EtcdModel();
    [1, 2, 3].forEach((n) => model.addStarted(n));
    const host2 = etcdHost(model, 2, { changed: true });
    install(host2);
    const olds = memberOutputs(2);

    const { outs } = await outputsOf(
      etcdMemberProvider.update!(
        "host-2-etcd-member",
        olds,
        memberInputs(2, { heartbeatIntervalMs: 250 }),
      ),
    );

    assert.equal(outs.joinedBy, "bootstrap");
    assert.equal(outs.heartbeatIntervalMs, 250);
    const env = host2.upload(`${ETCD_STAGING_DIR}/etcd.env`).content;
    assert.match(env, /^ETCD_HEARTBEAT_INTERVAL=250$/m);
    assert.match(env, /^ETCD_INITIAL_CLUSTER_STATE=new$/m);
    assert.equal(host2.ran(/^bash -s$/)[0].env.ETCD_WIPE_DATA, "0");
    assert.deepEqual(etcdctlCalls(host2, "endpoint", "health").at(-1)?.endpoints, [clientUrl(2)]);
    assert.equal(etcdctlCalls(host2, "member").length, 0);
  });

  it("does not wait for health when nothing changed on the host", async () => {
    const model = new EtcdModel();
    [1, 2, 3].forEach((n) => model.addStarted(n));
    const host2 = etcdHost(model, 2, { changed: false });
    install(host2);

    await etcdMemberProvider.update!("host-2-etcd-member", memberOutputs(2), memberInputs(2));

    assert.equal(etcdctlCalls(host2, "endpoint", "health").length, 0);
  });
});

describe("etcdMemberProvider.diff", () => {
  it("replaces (delete first) on a new name or peer address; updates in place on config", async () => {
    const olds = memberOutputs(2);
    const diff = (news: MemberInputs) => etcdMemberProvider.diff!("id", olds, news);
    assert.deepEqual(await diff(memberInputs(2, { name: "etcd-2" })), {
      changes: true,
      replaces: ["name"],
      deleteBeforeReplace: true,
    });
    assert.deepEqual((await diff(memberInputs(2, { peerPort: 2390 }))).replaces, ["peerPort"]);
    const inPlace = await diff(memberInputs(2, { keyPem: "ROTATED" }));
    assert.deepEqual([inPlace.changes, inPlace.replaces], [true, []]);
    // The token, the bootstrap record and the peer endpoints change nothing on a running member.
    const none = await diff(
      memberInputs(2, { token: "other", bootstrapPeers: [], peerEndpoints: [clientUrl(9)] }),
    );
    assert.equal(none.changes, false);
  });
});

// ---- EtcdMember delete ------------------------------------------------------------------------

describe("etcdMemberProvider.delete", () => {
  it("removes the member through the others, then stops it", async () => {
    const model = new EtcdModel();
    const [, , self] = [1, 2, 3].map((n) => model.addStarted(n));
    const host3 = etcdHost(model, 3);
    install(host3);

    await etcdMemberProvider.delete!("host-3-etcd-member", memberOutputs(3));

    const [remove] = etcdctlCalls(host3, "member", "remove");
    assert.deepEqual(remove.args, ["member", "remove", self.id]);
    assert.deepEqual(remove.endpoints, [clientUrl(1), clientUrl(2)]);
    const stop = host3.indexOf(/^bash -s$/);
    assert.ok(indexOfEtcdctl(host3, "member", "remove") < stop);
    assert.deepEqual(host3.commands[stop].env, {
      ETCD_ACTION: "remove",
      ETCD_DATA_DIR: "/var/lib/etcd",
    });
    assert.deepEqual(
      model.members.map((member) => member.name),
      ["host-1", "host-2"],
    );
  });

  it("with the teardown mark, stops the member without any membership change", async () => {
    const model = new EtcdModel();
    // The others have stopped already: no quorum, but the mark is read locally.
    model.addStarted(1, false);
    model.addStarted(2, false);
    model.addStarted(3);
    model.keys.set(ETCD_TEARDOWN_KEY, "2026-12-01T10:00:00.000Z");
    const host3 = etcdHost(model, 3);
    install(host3);

    await etcdMemberProvider.delete!("host-3-etcd-member", memberOutputs(3));

    const [read] = etcdctlCalls(host3, "get");
    assert.deepEqual(read.args, [
      "get",
      "--consistency=s",
      "--print-value-only",
      ETCD_TEARDOWN_KEY,
    ]);
    assert.deepEqual(read.endpoints, [clientUrl(3), clientUrl(1), clientUrl(2), clientUrl(4)]);
    assert.equal(etcdctlCalls(host3, "member").length, 0);
    assert.equal(host3.ran(/^bash -s$/)[0].env.ETCD_ACTION, "remove");
    assert.equal(model.members.length, 3);
  });

  it("skips a host that cannot be reached: nothing is sent anywhere", async () => {
    const model = new EtcdModel();
    [1, 2, 3].forEach((n) => model.addStarted(n));
    const host3 = etcdHost(model, 3);
    host3.unreachable = true;
    const host1 = etcdHost(model, 1);
    install(host3, host1);

    await etcdMemberProvider.delete!("host-3-etcd-member", memberOutputs(3));

    assert.equal(host3.connections.length, 1);
    assert.deepEqual(host3.commands, []);
    assert.deepEqual(host1.commands, []);
    assert.equal(model.members.length, 3);
  });

  it("refuses a removal that would lose quorum, and leaves the member running", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    model.addStarted(2, false);
    model.addStarted(3);
    const host3 = etcdHost(model, 3);
    install(host3);

    await assert.rejects(
      etcdMemberProvider.delete!("host-3-etcd-member", memberOutputs(3)),
      /removing etcd member host-3 would leave 2 member\(s\) of which only 1 are healthy/,
    );
    assert.equal(etcdctlCalls(host3, "member", "remove").length, 0);
    assert.equal(host3.ran(/^bash -s$/).length, 0);
  });

  it("fails, naming the way out, when no member answers with quorum", async () => {
    const model = new EtcdModel();
    model.addStarted(1, false);
    model.addStarted(2, false);
    model.addStarted(3);
    const host3 = etcdHost(model, 3);
    install(host3);

    await assert.rejects(
      etcdMemberProvider.delete!("host-3-etcd-member", memberOutputs(3)),
      /cannot be removed from the cluster safely[\s\S]*pulumi state delete/,
    );
    assert.equal(host3.ran(/^bash -s$/).length, 0);
  });

  it("stops a member the cluster removed already, whose revoked keys no member takes", async () => {
    const model = new EtcdModel();
    [1, 2].forEach((n) => model.addStarted(n, false));
    model.addStarted(3, false);
    const host3 = etcdHost(model, 3, {
      journal: "etcdserver: the member has been permanently removed from the cluster\n",
    });
    install(host3);

    await etcdMemberProvider.delete!("host-3-etcd-member", memberOutputs(3));

    assert.equal(etcdctlCalls(host3, "member", "remove").length, 0);
    assert.equal(host3.ran(/^bash -s$/)[0].env.ETCD_ACTION, "remove");
  });

  it("stops the last member without removing it", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    const host1 = etcdHost(model, 1);
    install(host1);

    await etcdMemberProvider.delete!("host-1-etcd-member", memberOutputs(1));

    assert.equal(etcdctlCalls(host1, "member", "remove").length, 0);
    assert.equal(host1.ran(/^bash -s$/)[0].env.ETCD_ACTION, "remove");
  });
});

// ---- EtcdClusterHealth ------------------------------------------------------------------------

function healthInputs(overrides: Partial<HealthInputs> = {}): HealthInputs {
  return {
    host: "host-1",
    connection: { host: address(1), port: 22, user: "root", privateKey: "fake ssh key" },
    logUrn: "",
    etcdctlPath: ETCDCTL,
    endpoints: [1, 2, 3].map(clientUrl),
    memberNames: ["host-1", "host-2", "host-3"],
    caCertPem: "CA CERT\n",
    peerCaCertPem: "PEER CA CERT\n",
    timeoutSeconds: 30,
    ...overrides,
  };
}

describe("etcdClusterHealthProvider", () => {
  it("waits for every member, removes a dead unplanned one, clears the teardown mark", async () => {
    const model = new EtcdModel();
    [1, 2, 3].forEach((n) => model.addStarted(n));
    const dead = model.addStarted(4, false);
    model.keys.set(ETCD_TEARDOWN_KEY, "2026-12-01T10:00:00.000Z");
    const host1 = etcdHost(model, 1);
    install(host1);

    await etcdClusterHealthProvider.create(healthInputs());

    const healthChecked = etcdctlCalls(host1, "endpoint", "health").map(
      (call) => call.endpoints[0],
    );
    assert.deepEqual(healthChecked.slice(0, 3), [1, 2, 3].map(clientUrl));
    assert.deepEqual(etcdctlCalls(host1, "member", "remove")[0].args, [
      "member",
      "remove",
      dead.id,
    ]);
    assert.deepEqual(
      model.members.map((member) => member.name),
      ["host-1", "host-2", "host-3"],
    );
    assert.equal(etcdctlCalls(host1, "del")[0].args[1], ETCD_TEARDOWN_KEY);
    assert.equal(model.keys.has(ETCD_TEARDOWN_KEY), false);
  });

  it("removes an unplanned member that answers too (its own keys are revoked by then)", async () => {
    const model = new EtcdModel();
    [1, 2, 3, 4].forEach((n) => model.addStarted(n));
    const host1 = etcdHost(model, 1);
    install(host1);

    await etcdClusterHealthProvider.create(healthInputs());

    assert.equal(etcdctlCalls(host1, "member", "remove").length, 1);
    assert.deepEqual(
      model.members.map((member) => member.name),
      ["host-1", "host-2", "host-3"],
    );
  });

  it("fails naming the planned members the cluster does not list as started", async () => {
    const model = new EtcdModel();
    [1, 2, 3].forEach((n) => model.addStarted(n));
    const host1 = etcdHost(model, 1);
    install(host1);

    await assert.rejects(
      etcdClusterHealthProvider.create(
        healthInputs({ memberNames: ["host-1", "host-2", "host-3", "host-5"], timeoutSeconds: 0 }),
      ),
      /etcd members host-5 are not started members of the cluster/,
    );
  });

  it("delete writes the teardown mark, so that members stop without membership changes", async () => {
    const model = new EtcdModel();
    [1, 2, 3].forEach((n) => model.addStarted(n));
    const host1 = etcdHost(model, 1);
    install(host1);

    await etcdClusterHealthProvider.delete!("host-1-etcd-health", healthInputs());

    const [put] = etcdctlCalls(host1, "put");
    assert.equal(put.args[1], ETCD_TEARDOWN_KEY);
    assert.deepEqual(put.endpoints, [1, 2, 3].map(clientUrl));
    assert.ok(!Number.isNaN(Date.parse(model.keys.get(ETCD_TEARDOWN_KEY) ?? "")));
  });

  it("delete without quorum marks nothing and does not fail: the members leave one by one", async () => {
    const model = new EtcdModel();
    model.addStarted(1);
    model.addStarted(2, false);
    model.addStarted(3, false);
    const host1 = etcdHost(model, 1);
    install(host1);

    await etcdClusterHealthProvider.delete!("host-1-etcd-health", healthInputs());

    assert.equal(etcdctlCalls(host1, "put").length, 1);
    assert.equal(model.keys.has(ETCD_TEARDOWN_KEY), false);
  });
});
