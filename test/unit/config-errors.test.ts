import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { resolveCounterConfig, resolveWordPressConfig } from "../../components/apps/config";
import type { DockerEngine } from "../../components/engine/docker-engine";
import { resolveEngineConfig } from "../../components/engine/config";
import { resolveEtcdConfig } from "../../components/etcd/config";
import { resolvePrivateRegistryArgs } from "../../components/registry/private-registry";
import { resolveRegistryConfig } from "../../components/registry/config";
import { resolveStackConfig } from "../../components/stack/config";
import { resolveSwarmArgs } from "../../components/swarm/swarm-cluster";
import { resolveSwarmConfig } from "../../components/swarm/config";
import {
  ConfigError,
  formatConfigKey,
  resolveConfig,
  showConfigValue,
} from "../../provision/config/errors";

/** The problem lines of the ConfigError `run` throws. */
function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail("the config was accepted");
}

describe("ConfigError and resolveConfig", () => {
  it("spells keys as a stack file does, under a namespace or a component's key", () => {
    assert.equal(
      formatConfigKey("dockfleet:", ["sshHosts", 0, "name"]),
      "dockfleet:sshHosts[0].name",
    );
    assert.equal(formatConfigKey("dockfleet:etcd", ["members", 1]), "dockfleet:etcd.members[1]");
    assert.equal(formatConfigKey("dockfleet:", []), "dockfleet");
    assert.equal(formatConfigKey("", ["port"]), "port");
  });

  it("never quotes a secret, not even inside a structured value", () => {
    assert.equal(showConfigValue("dockfleet:registry.password", "hunter2"), "[secret]");
    assert.equal(showConfigValue("dockfleet:etcd.clusterToken", "t"), "[secret]");
    assert.equal(showConfigValue("dockfleet:registry.port", undefined), "(missing)");
    const shown = showConfigValue("dockfleet:registry.proxy", [{ password: "hunter2", a: 1 }]);
    assert.equal(shown, '[{"password":"[secret]","a":1}]');
  });

  it("lists every problem with its key, value and what is allowed", () => {
    const schema = z.strictObject({ port: z.int().max(10), mode: z.enum(["a", "b"]) });
    assert.throws(
      () => resolveConfig(schema, { port: 11, mode: "c", extra: 1 }, "dockfleet:thing", "thing"),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.name, "ConfigError");
        assert.deepEqual(error.problems, [
          "dockfleet:thing.port = 11: must be at most 10",
          'dockfleet:thing.mode = "c": must be one of "a", "b"',
          'dockfleet:thing.extra: unknown key (check the spelling; see README "Stack config")',
        ]);
        assert.deepEqual(error.details[0], {
          key: "dockfleet:thing.port",
          value: "11",
          allowed: "must be at most 10",
        });
        assert.match(error.message, /^invalid thing:\n {2}- dockfleet:thing\.port = 11/);
        return true;
      },
    );
  });
});

describe("components resolve their config with the one helper", () => {
  it("resolve a resolved config to an equal one, so the stack's sections pass through", () => {
    const stack = resolveStackConfig({
      "dockfleet:driver": "aliyun",
      "dockfleet:aliyun": JSON.stringify({ region: "cn-hangzhou", adminCidrs: ["203.0.113.7/32"] }),
      "dockfleet:engine": JSON.stringify({ registryMirrors: ["https://m.example.com"] }),
      "dockfleet:etcd": JSON.stringify({ enabled: true, members: ["host-1", "host-2"] }),
      "dockfleet:swarm": JSON.stringify({ enabled: true, networks: [{ name: "apps" }] }),
      "dockfleet:registry": JSON.stringify({ enabled: true, proxy: { remoteUrl: "https://r.io" } }),
      "dockfleet:apps": JSON.stringify({ enabled: true, counter: { port: 9000 } }),
    });
    assert.equal(stack.engine.source, "mirror", "the aliyun driver's default mirror is kept");
    assert.deepEqual(resolveEngineConfig(stack.engine), stack.engine);
    assert.deepEqual(resolveEtcdConfig(stack.etcd), stack.etcd);
    assert.deepEqual(resolveSwarmConfig(stack.swarm), stack.swarm);
    assert.deepEqual(resolveRegistryConfig(stack.registry), stack.registry);
    assert.deepEqual(resolveCounterConfig(stack.apps.counter), stack.apps.counter);
    assert.deepEqual(resolveWordPressConfig(stack.apps.wordpress), stack.apps.wordpress);
  });

  it("check an engine's settings across its keys without the stack schema", () => {
    assert.deepEqual(
      problemsOf(() => resolveEngineConfig({ source: "mirror", daemonOptions: { hosts: [] } })),
      [
        'dockfleet:engine.mirrorUrl = (missing): is required when engine.source is "mirror": a preset (aliyun, tuna, ustc) or a URL',
        "dockfleet:engine.daemonOptions.hosts = []: is set by dockfleet from its own keys (engine.registryMirrors, engine.tlsPort, ...): use those",
      ],
    );
  });

  it("word a component's errors as the stack's, with the component's keys", () => {
    assert.deepEqual(
      problemsOf(() => resolveSwarmConfig({ managers: 0 })),
      ["dockfleet:swarm.managers = 0: must be at least 1"],
    );
    assert.deepEqual(
      problemsOf(() => resolveRegistryConfig({ password: "short" })),
      ["dockfleet:registry.password = [secret]: must be at least 8 characters"],
    );
    assert.deepEqual(
      problemsOf(() => resolveCounterConfig({ port: 0 })),
      ["dockfleet:apps.counter.port = 0: must be at least 1"],
    );
    const engines = ["host-1", "host-2"].map((name) => ({ machine: { name } }) as DockerEngine);
    assert.deepEqual(
      problemsOf(() => resolvePrivateRegistryArgs({ engines, config: { host: "db" } })),
      ['dockfleet:registry.host = "db": must be a host of this environment (host-1, host-2)'],
    );
    assert.deepEqual(
      problemsOf(() => resolveSwarmArgs({ engines, config: { workers: -1 } })),
      ["dockfleet:swarm.workers = -1: must be at least 0"],
    );
    assert.equal(resolveSwarmArgs({ engines, config: { managers: 1 } }).plan.initNode, "host-1");
  });
});
