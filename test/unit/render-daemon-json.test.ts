import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DOCKER_TLS_PATHS,
  DaemonJsonConflictError,
  MANAGED_DAEMON_KEYS,
  mergeAdoptedDaemonJson,
  planDaemonJsonChange,
  renderDaemonJson,
} from "../../components/engine/plan";

describe("renderDaemonJson", () => {
  it("renders a full example to exact bytes", () => {
    const text = renderDaemonJson({
      registryMirrors: ["https://mirrors.example.cn", "http://10.0.0.2:5000/"],
      insecureRegistries: ["10.0.0.2:5000", "192.168.0.0/16"],
      logDriver: "json-file",
      logOpts: { "max-size": "50m", "max-file": "5" },
      storageDriver: "overlay2",
      labels: { zone: "b", "dockfleet.host": "host-1" },
      tls: DOCKER_TLS_PATHS,
      liveRestore: true,
      extra: {
        "default-address-pools": [{ size: 24, base: "10.200.0.0/16" }],
      },
    });
    assert.equal(
      text,
      `{
  "hosts": [
    "unix:///var/run/docker.sock",
    "tcp://0.0.0.0:2376"
  ],
  "tls": true,
  "tlsverify": true,
  "tlscacert": "/etc/docker/tls/ca.pem",
  "tlscert": "/etc/docker/tls/cert.pem",
  "tlskey": "/etc/docker/tls/key.pem",
  "registry-mirrors": [
    "https://mirrors.example.cn",
    "http://10.0.0.2:5000/"
  ],
  "insecure-registries": [
    "10.0.0.2:5000",
    "192.168.0.0/16"
  ],
  "log-driver": "json-file",
  "log-opts": {
    "max-file": "5",
    "max-size": "50m"
  },
  "storage-driver": "overlay2",
  "labels": [
    "dockfleet.host=host-1",
    "zone=b"
  ],
  "live-restore": true,
  "default-address-pools": [
    {
      "base": "10.200.0.0/16",
      "size": 24
    }
  ]
}
`,
    );
  });

  it("defaults to the unix socket only and json-file logs rotating at 10m x 3", () => {
    assert.deepEqual(JSON.parse(renderDaemonJson()), {
      hosts: ["unix:///var/run/docker.sock"],
      "log-driver": "json-file",
      "log-opts": { "max-file": "3", "max-size": "10m" },
    });
    assert.equal(renderDaemonJson({}), renderDaemonJson());
    assert.ok(renderDaemonJson().endsWith("}\n"));
  });

  it("keeps rotation off only when asked, and gives other drivers no json-file options", () => {
    assert.equal(JSON.parse(renderDaemonJson({ logOpts: {} }))["log-opts"], undefined);
    const local = JSON.parse(renderDaemonJson({ logDriver: "local" }));
    assert.equal(local["log-driver"], "local");
    assert.equal(local["log-opts"], undefined);
  });

  it("passes the mirror list through unchanged and in order", () => {
    const mirrors = ["https://b.example.com", "https://a.example.com/", "http://10.1.2.3:5000"];
    assert.deepEqual(
      JSON.parse(renderDaemonJson({ registryMirrors: mirrors }))["registry-mirrors"],
      mirrors,
    );
  });

  it("sorts labels by key whatever order they come in", () => {
    const a = renderDaemonJson({ labels: { zeta: "1", alpha: "2", "m.k": "x=y" } });
    const b = renderDaemonJson({ labels: { "m.k": "x=y", zeta: "1", alpha: "2" } });
    assert.equal(a, b);
    assert.deepEqual(JSON.parse(a).labels, ["alpha=2", "m.k=x=y", "zeta=1"]);
  });

  it("gives identical bytes for extra options given in another key order", () => {
    const a = renderDaemonJson({
      extra: { "max-concurrent-downloads": 6, features: { buildkit: true, x: false } },
    });
    const b = renderDaemonJson({
      extra: { features: { x: false, buildkit: true }, "max-concurrent-downloads": 6 },
    });
    assert.equal(a, b);
  });

  it("listens on the given TLS port", () => {
    assert.deepEqual(
      JSON.parse(renderDaemonJson({ tls: DOCKER_TLS_PATHS, tlsPort: 12376 })).hosts,
      ["unix:///var/run/docker.sock", "tcp://0.0.0.0:12376"],
    );
  });

  it("refuses an extra key that dockfleet manages, naming the key and the option to use", () => {
    assert.throws(
      () => renderDaemonJson({ extra: { "registry-mirrors": ["https://x.example.com"] } }),
      /extra\."registry-mirrors" clashes with a key dockfleet manages; set it through the "registryMirrors" option/,
    );
    for (const key of MANAGED_DAEMON_KEYS) {
      assert.throws(
        () => renderDaemonJson({ extra: { [key]: null } }),
        new RegExp(`extra\\."${key}" clashes`),
      );
    }
  });

  it("refuses mirrors without a scheme, insecure registries with one, and bad label keys", () => {
    assert.throws(
      () => renderDaemonJson({ registryMirrors: ["mirror.example.com"] }),
      /registryMirrors holds "mirror.example.com"; a mirror is a URL with an http:\/\/ or https:\/\/ scheme/,
    );
    assert.throws(
      () => renderDaemonJson({ insecureRegistries: ["http://10.0.0.2:5000"] }),
      /insecureRegistries holds "http:\/\/10.0.0.2:5000"; give "host:port"/,
    );
    assert.throws(() => renderDaemonJson({ labels: { "a=b": "c" } }), /labels has the key "a=b"/);
    assert.throws(
      () => renderDaemonJson({ tls: DOCKER_TLS_PATHS, tlsPort: 70000 }),
      /tlsPort is 70000/,
    );
    assert.throws(
      () => renderDaemonJson({ tls: { ...DOCKER_TLS_PATHS, keyPath: "key.pem" } }),
      /tls.keyPath is "key.pem"; give an absolute path/,
    );
  });
});

describe("mergeAdoptedDaemonJson", () => {
  const rendered = renderDaemonJson({
    tls: DOCKER_TLS_PATHS,
    extra: { features: { buildkit: true } },
  });
  const where = "/etc/docker/daemon.json on web-1";

  it("keeps the host's own keys after dockfleet's, merging objects key by key", () => {
    const host = JSON.stringify({
      "default-address-pools": [{ size: 24, base: "10.200.0.0/16" }],
      "data-root": "/srv/docker",
      "log-opts": { compress: "true", "max-size": "10m" },
      features: { "containerd-snapshotter": false },
      "log-driver": "json-file",
    });
    const merged = JSON.parse(mergeAdoptedDaemonJson(rendered, host, where)) as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(merged), [
      ...Object.keys(JSON.parse(rendered) as object),
      "data-root",
      "default-address-pools",
    ]);
    assert.equal(merged["data-root"], "/srv/docker");
    assert.deepEqual(merged["default-address-pools"], [{ base: "10.200.0.0/16", size: 24 }]);
    assert.deepEqual(merged["log-opts"], { compress: "true", "max-file": "3", "max-size": "10m" });
    assert.deepEqual(merged.features, { buildkit: true, "containerd-snapshotter": false });
    assert.equal(merged.tlsverify, true);
  });

  it("is byte-stable, and a no-op without a host file: a second up plans no change", () => {
    const host = '{"data-root": "/srv/docker"}';
    const once = mergeAdoptedDaemonJson(rendered, host, where);
    assert.equal(mergeAdoptedDaemonJson(rendered, host, where), once);
    assert.equal(
      planDaemonJsonChange(once, mergeAdoptedDaemonJson(rendered, host, where)),
      "unchanged",
    );
    assert.equal(mergeAdoptedDaemonJson(rendered, "", where), rendered);
    assert.equal(mergeAdoptedDaemonJson(rendered, " \n", where), rendered);
  });

  it("accepts a managed key the host sets to dockfleet's own value", () => {
    const host = JSON.stringify({ tlsverify: true, hosts: JSON.parse(rendered).hosts as unknown });
    assert.equal(mergeAdoptedDaemonJson(rendered, host, where), rendered);
  });

  it("refuses every clash at once, naming the key, both values and the file", () => {
    const host = JSON.stringify({
      hosts: ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"],
      "log-opts": { "max-size": "100m" },
      "registry-mirrors": ["https://mirror.example.com"],
      features: { buildkit: false },
      "data-root": "/srv/docker",
    });
    assert.throws(
      () => mergeAdoptedDaemonJson(rendered, host, where),
      (error: unknown) => {
        assert.ok(error instanceof DaemonJsonConflictError);
        assert.deepEqual(
          error.conflicts.map((conflict) => conflict.key),
          ["features.buildkit", "hosts", "log-opts.max-size", "registry-mirrors"],
        );
        assert.match(
          error.message,
          /^\/etc\/docker\/daemon\.json on web-1 sets keys that dockfleet manages to another value:\n/,
        );
        assert.match(
          error.message,
          /\n {2}hosts: the host has \["unix:\/\/\/var\/run\/docker\.sock","tcp:\/\/0\.0\.0\.0:2375"\], dockfleet has \["unix:\/\/\/var\/run\/docker\.sock","tcp:\/\/0\.0\.0\.0:2376"\]\n/,
        );
        assert.match(
          error.message,
          /\n {2}log-opts\.max-size: the host has "100m", dockfleet has "10m"\n/,
        );
        assert.match(
          error.message,
          /\n {2}registry-mirrors: the host has \["https:\/\/mirror\.example\.com"\], dockfleet has \(unset\)\n/,
        );
        assert.match(error.message, /Nothing on the host was changed\.$/);
        return true;
      },
    );
  });

  it("refuses a host file that is not a JSON object", () => {
    assert.throws(
      () => mergeAdoptedDaemonJson(rendered, '{"data-root": ', where),
      /^Error: \/etc\/docker\/daemon\.json on web-1 is not valid JSON \(.*\); .*fix or remove it/,
    );
    assert.throws(
      () => mergeAdoptedDaemonJson(rendered, "[]", where),
      /on web-1 is not a JSON object; fix or remove it/,
    );
  });
});
