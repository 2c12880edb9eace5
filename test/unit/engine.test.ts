import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveStackConfig } from "../../components/stack/config";
import { renderEngineDaemonJson, renderInstallEnv } from "../../components/engine/docker-engine";
import { planDaemonJsonChange } from "../../components/engine/plan";
import {
  checkSigningKey,
  DOCKER_CE_SIGNING_KEYS,
  dockerCeSigningKey,
  primaryKeyFingerprints,
} from "../../components/engine/signing-keys";

const engineConfig = (engine: object) =>
  resolveStackConfig({ "dockfleet:engine": JSON.stringify(engine) }).engine;

describe("DockerEngine rendering", () => {
  it("passes the package source to install-docker.sh", () => {
    assert.deepEqual(renderInstallEnv(engineConfig({})), {
      DOCKER_SOURCE: "distro",
      INSTALL_RECOMMENDS: "0",
      DOCKER_START: "0",
    });
    assert.deepEqual(
      renderInstallEnv(
        engineConfig({
          source: "mirror",
          mirrorUrl: "aliyun",
          version: "24.0.7",
          installRecommends: true,
        }),
      ),
      {
        DOCKER_SOURCE: "docker-ce",
        DOCKER_CE_MIRROR: "https://mirrors.aliyun.com/docker-ce",
        DOCKER_CE_DEB_KEY: dockerCeSigningKey("deb"),
        DOCKER_CE_RPM_KEY: dockerCeSigningKey("rpm"),
        DOCKER_VERSION: "24.0.7",
        INSTALL_RECOMMENDS: "1",
        DOCKER_START: "0",
      },
    );
    const http = renderInstallEnv(
      engineConfig({
        source: "mirror",
        mirrorUrl: "http://10.0.0.9/docker-ce",
        allowInsecureHttpMirror: true,
      }),
    );
    assert.equal(http.ALLOW_HTTP_MIRROR, "1");
  });

  it("renders daemon.json from the engine config and the host's labels", () => {
    const json = JSON.parse(
      renderEngineDaemonJson(
        engineConfig({
          registryMirrors: ["https://mirror.example.com"],
          insecureRegistries: ["10.0.0.5:5000"],
          logMaxSize: "20m",
          logMaxFile: 5,
          labels: { env: "dev" },
          daemonOptions: { "max-concurrent-downloads": 10 },
          tlsPort: 3376,
        }),
        { "dockfleet.io/host": "host-1" },
      ),
    );
    assert.deepEqual(json["registry-mirrors"], ["https://mirror.example.com"]);
    assert.deepEqual(json["insecure-registries"], ["10.0.0.5:5000"]);
    assert.deepEqual(json["log-opts"], { "max-file": "5", "max-size": "20m" });
    assert.deepEqual(json.labels, ["dockfleet.io/host=host-1", "env=dev"]);
    assert.equal(json["max-concurrent-downloads"], 10);
    assert.deepEqual(json.hosts, ["unix:///var/run/docker.sock", "tcp://0.0.0.0:3376"]);
    assert.equal(json.tlsverify, true);
  });

  it("refuses a passed-through option that dockfleet manages", () => {
    assert.throws(
      () =>
        renderEngineDaemonJson(
          engineConfig({ daemonOptions: { hosts: ["tcp://0.0.0.0:2375"] } }),
          {},
        ),
      /hosts/,
    );
  });
});

describe("planDaemonJsonChange", () => {
  const mirrors = (url: string) =>
    JSON.stringify({ "registry-mirrors": [url], "log-driver": "local" });
  it("reloads when only options dockerd reloads on SIGHUP differ", () => {
    assert.equal(planDaemonJsonChange(mirrors("https://a"), mirrors("https://b")), "reload");
    assert.equal(
      planDaemonJsonChange('{"labels": ["a=1"]}', '{"labels": ["a=2"], "debug": true}'),
      "reload",
    );
  });
  it("restarts when any other option differs, or the installed file is missing or not JSON", () => {
    assert.equal(
      planDaemonJsonChange(mirrors("https://a"), '{"log-driver": "json-file"}'),
      "restart",
    );
    assert.equal(planDaemonJsonChange(undefined, mirrors("https://a")), "restart");
    // dockerd keeps a reloadable key's value when the file no longer sets it.
    assert.equal(planDaemonJsonChange('{"live-restore": true}', "{}"), "restart");
    assert.equal(planDaemonJsonChange("{ broken", mirrors("https://a")), "restart");
  });
  it("is unchanged for the same text", () => {
    assert.equal(planDaemonJsonChange(mirrors("https://a"), mirrors("https://a")), "unchanged");
  });
});

describe("Docker's signing keys", () => {
  it("ship with the fingerprints Docker publishes, one key per file", () => {
    for (const family of ["deb", "rpm"] as const) {
      assert.deepEqual(primaryKeyFingerprints(dockerCeSigningKey(family)), [
        DOCKER_CE_SIGNING_KEYS[family].fingerprint,
      ]);
    }
  });

  it("refuses another key, a key with one appended, and damaged key text", () => {
    const deb = dockerCeSigningKey("deb");
    const rpm = dockerCeSigningKey("rpm");
    const { fingerprint } = DOCKER_CE_SIGNING_KEYS.deb;
    assert.throws(
      () => checkSigningKey(rpm, fingerprint, "k.asc"),
      /k\.asc must hold exactly the key 9DC8.*; it holds 060A/,
    );
    const base64 = (armored: string) => armored.split("\n\n")[1].split("\n=")[0].replace(/\n/g, "");
    const both = Buffer.concat([
      Buffer.from(base64(deb), "base64"),
      Buffer.from(base64(rpm), "base64"),
    ]).toString("base64");
    const appended = `-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n${both}\n-----END PGP PUBLIC KEY BLOCK-----\n`;
    assert.throws(() => checkSigningKey(appended, fingerprint, "k.asc"), /it holds 9DC8\w+, 060A/);
    const damaged = deb.replace("mQINBFit2ioBEADhWpZ8", "mQINBFit2ioBEADhWpZ9");
    assert.throws(() => checkSigningKey(damaged, fingerprint, "k.asc"), /armor checksum/);
  });
});
