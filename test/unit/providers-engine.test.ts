/**
 * The Docker engine's providers (package install, configuration) against fake hosts: what is
 * uploaded and run over SSH, and that one host's package steps never overlap.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { readScript } from "../../provision/dynamic/remote-step";
import { DOCKER_CONFIG_STAGING_DIR } from "../../components/engine/plan";
import { dockerConfigProvider, tcpPortsOf } from "../../components/engine/resources/docker-config";
import { nodeRunsItsTasks } from "../../components/engine/resources/rolling-restart";
import { dockerInstallProvider } from "../../components/engine/resources/docker-install";
import { etcdInstallProvider } from "../../components/etcd/resources/etcd-install";
import {
  FakeCommander,
  commandLinesWith,
  fakeHostsPerTest,
  outputsOf,
  scriptResult,
  type RecordedCommand,
} from "../helpers/fake-ssh";

type ConfigInputs = Parameters<typeof dockerConfigProvider.create>[0];
type InstallInputs = Parameters<typeof dockerInstallProvider.create>[0];

const ENGINE_DIR = path.join(__dirname, "../../components/engine");
const APPLY_SCRIPT = readScript(ENGINE_DIR, "apply-docker-config.sh");
const INSTALL_SCRIPT = readScript(ENGINE_DIR, "install-docker.sh");
const SERVER_KEY =
  "-----BEGIN EC PRIVATE KEY-----\nSECRET-SERVER-KEY\n-----END EC PRIVATE KEY-----\n";
const address = (n: number) => `10.0.0.${n}`;
const connection = (n: number) => ({
  host: address(n),
  port: 22,
  user: "root",
  privateKey: "fake ssh key",
});

const install = fakeHostsPerTest();

// ---- DockerConfig ------------------------------------------------------------------------------

function configInputs(overrides: Partial<ConfigInputs> = {}): ConfigInputs {
  return {
    host: "host-1",
    connection: connection(1),
    logUrn: "",
    script: APPLY_SCRIPT,
    daemonJson: '{\n  "log-driver": "json-file"\n}\n',
    systemdDropIn: "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\n",
    caCertPem: "CA CERT\n",
    serverCertPem: "SERVER CERT\n",
    serverKeyPem: SERVER_KEY,
    ...overrides,
  };
}

const SERVICE_LIST = /^docker service ls --format '\{\{\.Name\}\} \{\{\.Replicas\}\}'$/;
const SWARM_ROLE =
  /^docker info --format '\{\{\.Swarm\.LocalNodeState\}\} \{\{\.Swarm\.ControlAvailable\}\}'$/;

function configHost(changed = "1", n = 1): FakeCommander {
  return new FakeCommander(`10.0.0.${n}:22`)
    .on(SWARM_ROLE, { stdout: "inactive false\n" })
    .on(new RegExp(`^install -d -m 0700 ${DOCKER_CONFIG_STAGING_DIR}$`), {})
    .on(/^bash -s$/, (call) => {
      assert.equal(call.stdin, APPLY_SCRIPT);
      return scriptResult({ changed });
    });
}

describe("dockerConfigProvider", () => {
  it("stages daemon.json, the drop-in and the TLS files, then runs the apply script", async () => {
    const host = configHost();
    install(host);

    const { id } = await dockerConfigProvider.create(configInputs());

    assert.equal(id, "host-1-docker-config");
    assert.deepEqual(host.commandLines, [
      "docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'",
      `install -d -m 0700 ${DOCKER_CONFIG_STAGING_DIR}`,
      "bash -s",
    ]);
    const at = (name: string) => `${DOCKER_CONFIG_STAGING_DIR}/${name}`;
    assert.deepEqual(
      host.uploads.map((upload) => [upload.path, upload.mode]),
      [
        [at("daemon.json"), 0o644],
        [at("dockfleet.conf"), 0o644],
        [at("ca.pem"), 0o644],
        [at("server-cert.pem"), 0o644],
        [at("server-key.pem"), 0o600],
      ],
    );
    assert.equal(host.upload(at("server-key.pem")).content, SERVER_KEY);
    assert.equal(host.upload(at("daemon.json")).content, configInputs().daemonJson);
    assert.deepEqual(host.commands[2].env, { DAEMON_JSON_CHANGE: "restart" });
    assert.deepEqual(commandLinesWith("SECRET-SERVER-KEY", host), []);
  });

  it("update applies the new configuration the same way", async () => {
    const host = configHost("0");
    install(host);
    const news = configInputs({ daemonJson: '{"debug": true}\n' });

    await dockerConfigProvider.update!("id", configInputs(), news);

    assert.equal(host.upload(`${DOCKER_CONFIG_STAGING_DIR}/daemon.json`).content, news.daemonJson);
    assert.equal(host.ran(/^bash -s$/).length, 1);
  });

  it("probes dockerd's listeners on the TLS port of its daemon.json only (the swarm's come later)", () => {
    assert.deepEqual(
      tcpPortsOf('{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]}'),
      [2376],
    );
    assert.deepEqual(tcpPortsOf('{"hosts": ["unix:///var/run/docker.sock"]}'), []);
    assert.deepEqual(tcpPortsOf("{}"), []);
  });

  it("asks for a reload when only reloadable options differ from the installed daemon.json", async () => {
    const host = configHost("1");
    host.files.set("/etc/docker/daemon.json", '{"registry-mirrors": ["https://a.example"]}\n');
    install(host);
    const news = configInputs({ daemonJson: '{"registry-mirrors": ["https://b.example"]}\n' });
    // A host dockfleet configured, whose own daemon.json (none here) is on record.
    const olds = { ...news, adoptedDaemonJson: "" };
    await dockerConfigProvider.update!("id", olds, news);
    assert.deepEqual(host.ran(/^bash -s$/)[0]?.env, { DAEMON_JSON_CHANGE: "reload" });

    host.files.set("/etc/docker/daemon.json", '{"log-driver": "local"}\n');
    await dockerConfigProvider.update!("id", olds, news);
    assert.deepEqual(host.ran(/^bash -s$/)[1]?.env, { DAEMON_JSON_CHANGE: "restart" });
  });

  it("adopts the host's own daemon.json: keeps its keys, records them, and merges them on later ups", async () => {
    const daemonJsonPath = "/etc/docker/daemon.json";
    const dataRoot = "/srv/docker-before";
    const hostFile = `{"data-root": "${dataRoot}", "log-driver": "json-file"}\n`;
    const host = configHost();
    host.files.set(daemonJsonPath, hostFile);
    install(host);

    const { outs } = await outputsOf(dockerConfigProvider.create(configInputs()));

    const staged = `${DOCKER_CONFIG_STAGING_DIR}/daemon.json`;
    const merged = '{\n  "log-driver": "json-file",\n  "data-root": "/srv/docker-before"\n}\n';
    assert.equal(host.upload(staged).content, merged);
    assert.equal(outs.adoptedDaemonJson, hostFile);
    // The same options as the host's file, in another order: a reload is enough.
    assert.deepEqual(host.ran(/^bash -s$/)[0]?.env, { DAEMON_JSON_CHANGE: "reload" });

    // The next up finds dockfleet's merged file and drop-in installed: the record, not the
    // installed file, says what the host's own keys are.
    host.files.set(daemonJsonPath, merged);
    host.files.set("/etc/systemd/system/docker.service.d/dockfleet.conf", "[Service]\n");
    const news = configInputs({
      daemonJson: '{\n  "log-driver": "json-file",\n  "debug": true\n}\n',
    });
    const updated = await dockerConfigProvider.update!("id", outs, news);
    assert.equal(
      host.upload(staged).content,
      '{\n  "log-driver": "json-file",\n  "debug": true,\n  "data-root": "/srv/docker-before"\n}\n',
    );
    assert.equal(updated.outs?.adoptedDaemonJson, hostFile);
  });

  it("refuses a host daemon.json that clashes with dockfleet's, naming key and values, before changing anything", async () => {
    const host = configHost();
    const hostFile =
      '{"log-opts": {"max-size": "100m"}, "live-restore": true, "data-root": "/d"}\n';
    host.files.set("/etc/docker/daemon.json", hostFile);
    install(host);
    const daemonJson = '{\n  "log-opts": {\n    "max-file": "3",\n    "max-size": "10m"\n  }\n}\n';

    await assert.rejects(
      dockerConfigProvider.create(configInputs({ daemonJson })),
      (error: Error) => {
        assert.match(
          error.message,
          /\/etc\/docker\/daemon\.json on host-1 sets keys that dockfleet manages/,
        );
        assert.match(error.message, /live-restore: the host has true, dockfleet has \(unset\)/);
        assert.match(error.message, /log-opts\.max-size: the host has "100m", dockfleet has "10m"/);
        assert.match(error.message, /Nothing on the host was changed/);
        return true;
      },
    );
    assert.deepEqual(host.uploads, []);
    assert.deepEqual(host.commandLines, []);
    assert.equal(host.files.get("/etc/docker/daemon.json"), hostFile);
  });

  it("takes the copy the script kept on a create over dockfleet's files, and adopts nothing for a state from before adoption", async () => {
    const host = configHost("0");
    host.files.set("/etc/docker/daemon.json", '{\n  "log-driver": "json-file"\n}\n');
    host.files.set("/etc/systemd/system/docker.service.d/dockfleet.conf", "[Service]\n");
    host.files.set("/etc/docker/daemon.json.before-dockfleet", '{"data-root": "/old"}\n');
    install(host);
    const staged = `${DOCKER_CONFIG_STAGING_DIR}/daemon.json`;

    const created = await outputsOf(dockerConfigProvider.create(configInputs()));
    assert.match(host.upload(staged).content, /"data-root": "\/old"/);
    assert.equal(created.outs.adoptedDaemonJson, '{"data-root": "/old"}\n');

    const fromBefore = await dockerConfigProvider.update!("id", configInputs(), configInputs());
    assert.equal(host.upload(staged).content, configInputs().daemonJson);
    assert.equal(fromBefore.outs?.adoptedDaemonJson, "");
  });

  it("restarts the hosts of a swarm one at a time, each back in the swarm and running its tasks before the next", async () => {
    const events: string[] = [];
    const swarmHost = (n: number) => {
      let restarted = false;
      let tasksRestarting = false;
      return configHost("1", n)
        .on(SWARM_ROLE, { stdout: "active true\n" })
        .on(SERVICE_LIST, { stdout: "" })
        .on(/^docker ps --quiet --filter label=com\.docker\.swarm\.task\.id \| wc -l$/, () => ({
          stdout: tasksRestarting ? "1\n" : "2\n",
        }))
        .on(/^docker node ps self/, () => {
          // At the first look after the restart one task waits out its restart delay.
          if (!tasksRestarting) return { stdout: "Running|Running 1 minute ago\n".repeat(2) };
          tasksRestarting = false;
          events.push(`host-${n} runs 1 of 2 tasks`);
          return {
            stdout:
              "Running|Running 2 seconds ago\nReady|Pending 1 second ago\n" +
              "Shutdown|Failed 3 seconds ago\n",
          };
        })
        .on(/^bash -s$/, async () => {
          events.push(`host-${n} restart begins`);
          await new Promise((resolve) => setTimeout(resolve, 30));
          restarted = true;
          tasksRestarting = true;
          return scriptResult({ changed: "1", restarted: "1" });
        })
        .on(
          /^docker node inspect self/,
          () => {
            // Not ready at the first look after the restart, ready at the second.
            if (!restarted) return { stdout: "ready\n" };
            restarted = false;
            events.push(`host-${n} not ready yet`);
            return { stdout: "down\n" };
          },
          { stdout: "ready\n" },
        );
    };
    const hosts = [swarmHost(1), swarmHost(2)];
    hosts[1]!.on(/^docker node inspect self/, { stdout: "ready\n" });
    install(...hosts);
    await Promise.all(
      [1, 2].map((n) =>
        dockerConfigProvider.update!(
          "id",
          configInputs({ host: `host-${n}`, connection: connection(n) }),
          configInputs({ host: `host-${n}`, connection: connection(n), daemonJson: "{}\n" }),
        ),
      ),
    );
    assert.deepEqual(events, [
      "host-1 restart begins",
      "host-1 not ready yet",
      "host-1 runs 1 of 2 tasks",
      "host-2 restart begins",
      "host-2 runs 1 of 2 tasks",
    ]);
  });

  it("waits, on a manager, for the services that ran before the restart to run again wherever the swarm moved them", async () => {
    const events: string[] = [];
    // host-1's restart moved the one Redis replica to host-2, where it waits out its restart
    // delay; a service of the user's that never ran is not waited for.
    let listings = 0;
    const manager = (n: number) =>
      configHost("1", n)
        .on(SWARM_ROLE, { stdout: "active true\n" })
        .on(/^docker ps --quiet --filter label=com\.docker\.swarm\.task\.id \| wc -l$/, {
          stdout: "0\n",
        })
        .on(/^docker node inspect self/, { stdout: "ready\n" })
        .on(SERVICE_LIST, () => {
          listings++;
          const redis = listings === 2 || listings === 3 ? "0/1" : "1/1";
          if (listings === 2) events.push("counter_redis down after host-1's restart");
          return { stdout: `counter_web 3/3\ncounter_redis ${redis}\nbroken 0/2\n` };
        })
        .on(/^bash -s$/, () => {
          events.push(`host-${n} restart begins`);
          return scriptResult({ changed: "1", restarted: "1" });
        });
    install(manager(1), manager(2));
    for (const n of [1, 2]) {
      await dockerConfigProvider.update!(
        "id",
        configInputs({ host: `host-${n}`, connection: connection(n) }),
        configInputs({ host: `host-${n}`, connection: connection(n), daemonJson: "{}\n" }),
      );
      events.push(`host-${n} done`);
    }
    assert.deepEqual(events, [
      "host-1 restart begins",
      "counter_redis down after host-1's restart",
      "host-1 done",
      "host-2 restart begins",
      "host-2 done",
    ]);
    // host-1: before, then down twice, then back; host-2: before, then back at once.
    assert.equal(listings, 6);
  });

  it("nodeRunsItsTasks: what the swarm wants on the node runs there, whatever it moved away", () => {
    const lines = (...tasks: string[]) => tasks.join("\n") + "\n";
    // Back: every wanted task Running, the shut-down ones of before the restart ignored.
    assert.deepEqual(
      nodeRunsItsTasks(lines("Running|Running 1 second ago", "Shutdown|Failed 9 seconds ago"), 1),
      { done: true, running: 1, wanted: 1 },
    );
    // A replacement still waiting out its restart delay.
    assert.equal(
      nodeRunsItsTasks(lines("Running|Running 3 s", "Ready|Pending 1 s"), 1).done,
      false,
    );
    // The manager still calls a task Running whose container died with the restart.
    assert.equal(nodeRunsItsTasks(lines("Running|Running 2 minutes ago"), 0).done, false);
    // A task the swarm placed on another node meanwhile is not waited for.
    assert.equal(
      nodeRunsItsTasks(lines("Running|Running 1 s", "Shutdown|Shutdown 5 s"), 1).done,
      true,
    );
  });

  it("diff: a change of any file, or of how the host is reached, is an update in place; another machine (host key) a replacement", async () => {
    const olds = configInputs({ connection: { ...connection(1), hostKey: "ssh-ed25519 AAAAone" } });
    const changed = await dockerConfigProvider.diff!("id", olds, { ...olds, caCertPem: "NEW CA" });
    assert.deepEqual(changed, { changes: true, replaces: [] });
    for (const reachedDifferently of [
      { host: address(2) },
      { port: 2222 },
      { user: "admin" },
      { privateKey: "another login key" },
    ]) {
      const moved = await dockerConfigProvider.diff!("id", olds, {
        ...olds,
        connection: { ...olds.connection, ...reachedDifferently },
      });
      assert.deepEqual(moved, { changes: true, replaces: [] }, JSON.stringify(reachedDifferently));
    }
    const anotherMachine = await dockerConfigProvider.diff!("id", olds, {
      ...olds,
      connection: { ...olds.connection, hostKey: "ssh-ed25519 AAAAtwo" },
    });
    assert.deepEqual(anotherMachine, { changes: true, replaces: ["connection"] });
    assert.deepEqual(await dockerConfigProvider.diff!("id", olds, { ...olds }), {
      changes: false,
      replaces: [],
    });
  });

  it("delete runs the script with REMOVE=1", async () => {
    const host = configHost();
    install(host);

    await dockerConfigProvider.delete!("id", configInputs());

    assert.deepEqual(
      host.commands.map((call) => [call.command, call.env]),
      [["bash -s", { REMOVE: "1" }]],
    );
  });

  it("delete skips a host that is gone, but not a script that fails", async () => {
    const gone = configHost();
    gone.unreachable = true;
    install(gone);
    await dockerConfigProvider.delete!("id", configInputs());
    assert.deepEqual(gone.commands, []);

    const failing = new FakeCommander("10.0.0.1:22").on(/^bash -s$/, {
      code: 1,
      stderr: "systemctl: dockerd failed to stop\n",
    });
    install(failing);
    await assert.rejects(
      dockerConfigProvider.delete!("id", configInputs()),
      /host-1: step "remove docker configuration" failed[\s\S]*dockerd failed to stop/,
    );
  });
});

// ---- Package installs (Docker, etcd) -----------------------------------------------------------

function installInputs(n: number, overrides: Partial<InstallInputs> = {}): InstallInputs {
  return {
    host: `host-${n}`,
    connection: connection(n),
    logUrn: "",
    script: INSTALL_SCRIPT,
    env: { DOCKER_SOURCE: "distro" },
    removeOnDestroy: false,
    ...overrides,
  };
}

describe("dockerInstallProvider", () => {
  it("runs the install script with its parameters and reports version and dockerd", async () => {
    const host = new FakeCommander("10.0.0.1:22").on(/^bash -s$/, (call) => {
      assert.equal(call.stdin, INSTALL_SCRIPT);
      return scriptResult({ changed: "1", version: "20.10.24", dockerd: "/usr/sbin/dockerd" });
    });
    install(host);

    const { id, outs } = await outputsOf(dockerInstallProvider.create(installInputs(1)));

    assert.equal(id, "host-1-docker-install");
    assert.equal(outs.version, "20.10.24");
    assert.equal(outs.dockerdPath, "/usr/sbin/dockerd");
    assert.deepEqual(host.commands[0].env, { DOCKER_SOURCE: "distro" });
  });

  it("fails when the script does not report where dockerd is", async () => {
    install(new FakeCommander("10.0.0.1:22").on(/^bash -s$/, scriptResult({ changed: "0" })));
    await assert.rejects(
      dockerInstallProvider.create(installInputs(1)),
      /host-1: install-docker.sh did not report where dockerd is/,
    );
  });

  it("upgrades once per new request, not when the request is absent or the same", async () => {
    const olds = { ...installInputs(1), upgradeRequest: "r1", version: "20.10", dockerdPath: "/d" };
    const diff = (news: Partial<InstallInputs>) =>
      dockerInstallProvider.diff!("id", olds, { ...installInputs(1), ...news });
    assert.equal((await diff({})).changes, false, "no request: nothing to do");
    assert.equal((await diff({ upgradeRequest: "r1" })).changes, false, "the same request again");
    assert.equal((await diff({ upgradeRequest: "r2" })).changes, true);

    // Not in a swarm (docker info answers no swarm): the upgrade runs without waiting for turns.
    const host = new FakeCommander("10.0.0.1:22")
      .on(/^docker info /, { stdout: "inactive false\n" })
      .on(/^bash -s$/, scriptResult({ changed: "1", upgraded: "1", dockerd: "/usr/sbin/dockerd" }));
    install(host);
    const { outs } = await outputsOf(
      dockerInstallProvider.update!("id", olds, { ...installInputs(1), upgradeRequest: "r2" }),
    );
    const run = host.commands.find((call) => call.command === "bash -s");
    assert.equal(run?.env.DOCKER_UPGRADE, "1");
    assert.equal(run?.env.DOCKER_START, "1");
    assert.equal(outs.upgradeRequest, "r2");

    // A later update without a request installs as usual and keeps the last request.
    const again = new FakeCommander("10.0.0.1:22").on(/^bash -s$/, scriptResult({ dockerd: "/d" }));
    install(again);
    const kept = await outputsOf(dockerInstallProvider.update!("id", outs, installInputs(1)));
    assert.equal(again.commands[0].env.DOCKER_UPGRADE, undefined);
    assert.equal(kept.outs.upgradeRequest, "r2");
  });

  it("delete removes the packages only when asked to", async () => {
    const host = new FakeCommander("10.0.0.1:22").on(/^bash -s$/, scriptResult({ changed: "1" }));
    install(host);

    await dockerInstallProvider.delete!("id", {
      ...installInputs(1),
      version: "",
      dockerdPath: "",
    });
    assert.deepEqual(host.connections, []);

    await dockerInstallProvider.delete!("id", {
      ...installInputs(1, { removeOnDestroy: true }),
      version: "",
      dockerdPath: "",
    });
    assert.deepEqual(host.commands[0].env, { DOCKER_SOURCE: "distro", DOCKER_ACTION: "remove" });
  });

  it("runs one package step at a time on a host (apt's cache), in parallel across hosts", async () => {
    let running = 0;
    let mostAtOnce = 0;
    const slowInstall = async (call: RecordedCommand) => {
      running++;
      mostAtOnce = Math.max(mostAtOnce, running);
      await sleep(30);
      running--;
      return call.env.ETCD_SOURCE !== undefined
        ? scriptResult({ etcd: "/usr/bin/etcd", etcdctl: "/usr/bin/etcdctl" })
        : scriptResult({ dockerd: "/usr/sbin/dockerd" });
    };
    const [host1, host2] = [1, 2].map((n) =>
      new FakeCommander(`${address(n)}:22`).on(/^bash -s$/, slowInstall),
    );
    install(host1, host2);
    const etcdInputs = (n: number) =>
      installInputs(n, { script: "# install-etcd.sh\n", env: { ETCD_SOURCE: "distro" } });

    await Promise.all([
      dockerInstallProvider.create(installInputs(1)),
      etcdInstallProvider.create(etcdInputs(1)),
    ]);
    assert.equal(mostAtOnce, 1);
    assert.equal(host1.commands.length, 2);

    await Promise.all([
      dockerInstallProvider.create(installInputs(1)),
      etcdInstallProvider.create(etcdInputs(2)),
    ]);
    assert.equal(mostAtOnce, 2);
  });
});
