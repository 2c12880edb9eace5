import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ProxyConfigSchema,
  renderEnvironmentFile,
  renderProxyEnvironment,
} from "../../provision/dynamic/proxy-environment";
import {
  DOCKERD_ENVIRONMENT_PATH,
  INSTALLED_PATH_OF_STAGED_FILE,
  planDockerConfigUploads,
  renderDockerDropIn,
} from "../../components/engine/plan";
import { resolveStackConfig } from "../../components/stack/config";
import { runRemoteStep } from "../../provision/dynamic/remote-step";
import { FakeCommander, installFakeHosts } from "../helpers/fake-ssh";

describe("dockfleet:proxy", () => {
  it("takes a proxy with credentials, https defaulting to http", () => {
    const proxy = ProxyConfigSchema.parse({ http: "http://fleet:s3cret@10.0.0.1:3128" });
    const environment = renderProxyEnvironment(proxy, ["172.30.10.10", "172.30.10.11"]);
    assert.deepEqual(environment, {
      HTTP_PROXY: "http://fleet:s3cret@10.0.0.1:3128",
      http_proxy: "http://fleet:s3cret@10.0.0.1:3128",
      HTTPS_PROXY: "http://fleet:s3cret@10.0.0.1:3128",
      https_proxy: "http://fleet:s3cret@10.0.0.1:3128",
      NO_PROXY: "localhost,127.0.0.1,::1,172.30.10.10,172.30.10.11",
      no_proxy: "localhost,127.0.0.1,::1,172.30.10.10,172.30.10.11",
    });
  });

  it("adds the operator's noProxy after the environment's own addresses, once each", () => {
    const proxy = ProxyConfigSchema.parse({
      http: "http://proxy.corp.example.com:3128",
      https: "http://proxy.corp.example.com:3129",
      noProxy: [".corp.example.com", "10.0.0.0/8", "172.30.10.10"],
    });
    const environment = renderProxyEnvironment(proxy, ["172.30.10.10", "172.30.10.10"]);
    assert.equal(environment?.HTTPS_PROXY, "http://proxy.corp.example.com:3129");
    assert.equal(
      environment?.NO_PROXY,
      "localhost,127.0.0.1,::1,172.30.10.10,.corp.example.com,10.0.0.0/8",
    );
  });

  it("sets nothing without a proxy", () => {
    assert.equal(renderProxyEnvironment(undefined, ["172.30.10.10"]), undefined);
    assert.equal(resolveStackConfig({}).proxy, undefined);
  });

  it("refuses a proxy URL with a path, no scheme, a quote or spaces, and bad noProxy entries", () => {
    for (const http of [
      "proxy.example.com:3128",
      "http://proxy.example.com:3128/path",
      'http://user:pa"ss@proxy:3128',
      "http://user:pa$s@proxy:3128",
      "http://proxy example.com",
      "ftp://proxy.example.com",
    ]) {
      assert.equal(ProxyConfigSchema.safeParse({ http }).success, false, http);
    }
    for (const entry of ["a b", "http://x", "x,y", ""]) {
      const parsed = ProxyConfigSchema.safeParse({ http: "http://p:3128", noProxy: [entry] });
      assert.equal(parsed.success, false, entry);
    }
  });

  it("never quotes a proxy password back in an error", () => {
    assert.throws(
      () => resolveStackConfig({ "dockfleet:proxy": '{"http":"http://u:s3cret@p:3128/x"}' }),
      (error: Error) => {
        assert.match(error.message, /dockfleet:proxy\.http/);
        assert.doesNotMatch(error.message, /s3cret/);
        return true;
      },
    );
  });
});

describe("dockerd behind the proxy", () => {
  const environment = renderProxyEnvironment(
    ProxyConfigSchema.parse({ http: "http://fleet:s3cret@10.0.0.1:3128" }),
    ["172.30.10.10"],
  )!;

  it("reads the variables from a file its drop-in names, not from Environment= lines", () => {
    const dropIn = renderDockerDropIn("/usr/sbin/dockerd", {
      environmentFile: DOCKERD_ENVIRONMENT_PATH,
    });
    assert.match(dropIn, /^\[Service\]\nEnvironmentFile=\/etc\/docker\/dockfleet-proxy.env$/m);
    assert.doesNotMatch(dropIn, /s3cret|^Environment=/m);
    assert.doesNotMatch(renderDockerDropIn("/usr/sbin/dockerd"), /EnvironmentFile/);
  });

  it("writes the file 0600 and keeps it secret", () => {
    const content = renderEnvironmentFile(environment);
    assert.match(content, /^HTTPS_PROXY="http:\/\/fleet:s3cret@10.0.0.1:3128"$/m);
    assert.match(content, /^NO_PROXY="localhost,127.0.0.1,::1,172.30.10.10"$/m);
    const uploads = planDockerConfigUploads({
      daemonJson: "{}",
      dropIn: "",
      dockerdEnvironment: content,
    });
    const file = uploads.find((upload) => upload.path.endsWith("/dockerd.env"));
    assert.deepEqual(file && { mode: file.mode, secret: file.secret }, {
      mode: 0o600,
      secret: true,
    });
    assert.equal(INSTALLED_PATH_OF_STAGED_FILE["dockerd.env"], DOCKERD_ENVIRONMENT_PATH);
    assert.equal(
      planDockerConfigUploads({ daemonJson: "{}", dropIn: "" }).some((upload) =>
        upload.path.endsWith("/dockerd.env"),
      ),
      false,
    );
  });

  it("refuses a value systemd would read otherwise", () => {
    assert.throws(() => renderEnvironmentFile({ A: 'x"y' }), /A cannot be written/);
    assert.throws(() => renderEnvironmentFile({ "A-B": "x" }), /cannot be written/);
  });
});

describe("every remote step behind the proxy", () => {
  it("runs each command with the host's proxy variables, under the command's own", async () => {
    const host = new FakeCommander("10.0.0.1:22").on(/./, {});
    const restore = installFakeHosts(host);
    const connection = { host: "10.0.0.1", port: 22, privateKey: "fake" };
    const proxyEnvironment = { http_proxy: "http://p:3128", NO_PROXY: "localhost" };
    try {
      await runRemoteStep(
        { host: "host-1", logUrn: "", connection: { ...connection, proxyEnvironment } },
        "install docker",
        async (client) => {
          await client.exec("apt-get update");
          await client.exec("curl", { env: { NO_PROXY: "own", A: "1" } });
        },
      );
      await runRemoteStep({ host: "host-1", logUrn: "", connection }, "plain", (client) =>
        client.exec("true"),
      );
    } finally {
      restore();
    }
    assert.deepEqual(
      host.commands.map((command) => command.env),
      [proxyEnvironment, { http_proxy: "http://p:3128", NO_PROXY: "own", A: "1" }, {}],
    );
  });
});
