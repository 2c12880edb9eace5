import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RegistryConfigSchema } from "../../components/registry/config";
import {
  certsDirCaPath,
  registryAddress,
  registryHostUsername,
  renderRegistryConfigYml,
  renderRegistryServerEnv,
  renderRegistryServiceDropIn,
} from "../../components/registry/plan";

const base = {
  runAs: "service" as const,
  storagePath: "/var/lib/docker-registry",
  port: 5000,
  listenAddress: "10.0.0.5",
  authentication: true,
  deleteEnabled: false,
};

describe("renderRegistryConfigYml", () => {
  it("renders TLS, htpasswd and host storage for the systemd service", () => {
    assert.equal(
      renderRegistryConfigYml(base),
      [
        "# Written by dockfleet (provision/render/registry.ts); changes here are overwritten.",
        "version: 0.1",
        "log:",
        "  level: info",
        "  fields:",
        "    service: registry",
        "storage:",
        "  filesystem:",
        '    rootdirectory: "/var/lib/docker-registry"',
        "  cache:",
        "    blobdescriptor: inmemory",
        "  delete:",
        "    enabled: false",
        "http:",
        '  addr: "10.0.0.5:5000"',
        "  tls:",
        '    certificate: "/etc/dockfleet/registry/tls/cert.pem"',
        '    key: "/etc/dockfleet/registry/tls/key.pem"',
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
        "auth:",
        "  htpasswd:",
        "    realm: dockfleet-registry",
        '    path: "/etc/dockfleet/registry/htpasswd"',
        "health:",
        "  storagedriver:",
        "    enabled: true",
        "    interval: 10s",
        "    threshold: 3",
        "",
      ].join("\n"),
    );
  });

  it("uses the container's mount points in container mode", () => {
    const yml = renderRegistryConfigYml({ ...base, runAs: "container", port: 443 });
    assert.match(yml, /rootdirectory: "\/var\/lib\/registry"/);
    assert.match(yml, /certificate: "\/etc\/docker\/registry\/tls\/cert.pem"/);
    assert.match(yml, /path: "\/etc\/docker\/registry\/htpasswd"/);
    assert.match(yml, /addr: ":443"/);
  });

  it("listens on the host's private address only, IPv6 in brackets", () => {
    assert.match(renderRegistryConfigYml(base), /^ {2}addr: "10\.0\.0\.5:5000"$/m);
    const v6 = renderRegistryConfigYml({ ...base, listenAddress: "fd00::5" });
    assert.match(v6, /^ {2}addr: "\[fd00::5\]:5000"$/m);
  });

  it("renders pull-through mode without auth, with quoted upstream credentials", () => {
    const yml = renderRegistryConfigYml({
      ...base,
      authentication: false,
      proxy: { remoteUrl: "https://registry-1.docker.io", username: "me", password: 'p"w: #x' },
    });
    assert.doesNotMatch(yml, /^auth:/m);
    assert.match(
      yml,
      /^proxy:\n {2}remoteurl: "https:\/\/registry-1.docker.io"\n {2}username: "me"\n {2}password: "p\\"w: #x"\n/m,
    );
    assert.doesNotMatch(
      renderRegistryConfigYml({ ...base, proxy: { remoteUrl: "http://10.0.0.9:5000" } }),
      /username/,
    );
  });

  it("is byte-stable", () => {
    assert.equal(renderRegistryConfigYml(base), renderRegistryConfigYml({ ...base }));
  });

  it("refuses bad ports, relative storage, bad upstream URLs and half credentials", () => {
    assert.throws(() => renderRegistryConfigYml({ ...base, port: 0 }), /port is 0/);
    assert.throws(
      () => renderRegistryConfigYml({ ...base, storagePath: "data" }),
      /storagePath is "data"/,
    );
    assert.throws(
      () => renderRegistryConfigYml({ ...base, proxy: { remoteUrl: "registry-1.docker.io" } }),
      /proxy.remoteUrl is "registry-1.docker.io"/,
    );
    assert.throws(
      () => renderRegistryConfigYml({ ...base, proxy: { remoteUrl: "https://x", username: "u" } }),
      /give both or neither/,
    );
  });
});

describe("renderRegistryServiceDropIn", () => {
  it("replaces ExecStart with dockfleet's config and restarts on failure", () => {
    const dropIn = renderRegistryServiceDropIn();
    assert.match(
      dropIn,
      /^ExecStart=\nExecStart=\/usr\/bin\/docker-registry serve \/etc\/dockfleet\/registry\/config.yml\n/m,
    );
    assert.match(dropIn, /^Restart=on-failure$/m);
  });
});

describe("renderRegistryServerEnv", () => {
  const options = {
    runAs: "service" as const,
    port: 5000,
    listenAddress: "10.0.0.5",
    storagePath: "/srv/registry",
    image: "registry:2",
    authentication: true,
  };

  it("gives the script its parameters and no secret", () => {
    assert.deepEqual(renderRegistryServerEnv(options), {
      RUN_AS: "service",
      PORT: "5000",
      LISTEN_ADDRESS: "10.0.0.5",
      STORAGE_PATH: "/srv/registry",
      CONFIG_DIR: "/etc/dockfleet/registry",
      STAGING_DIR: "/etc/dockfleet/registry.staged",
      AUTHENTICATION: "1",
    });
  });

  it("adds the image and container name in container mode", () => {
    const env = renderRegistryServerEnv({ ...options, runAs: "container", authentication: false });
    assert.equal(env.IMAGE, "registry:2");
    assert.equal(env.CONTAINER_NAME, "dockfleet-registry");
    assert.equal(env.AUTHENTICATION, "0");
  });

  it("gives each host a login of its own, and refuses a name htpasswd would mangle", () => {
    assert.equal(registryHostUsername("ci", "host-2"), "ci-host-2");
    assert.throws(() => registryHostUsername("a:b", "host-1"), /"a:b-host-1"/);
    assert.throws(() => registryHostUsername("ci", "../x"), /"ci-..\/x"/);
  });
});

describe("registry addresses and certs.d", () => {
  it("joins host and port, bracketing IPv6", () => {
    assert.equal(registryAddress("10.0.0.5", 5000), "10.0.0.5:5000");
    assert.equal(registryAddress("fd00::5", 5000), "[fd00::5]:5000");
  });

  it("puts the CA where dockerd looks for it", () => {
    assert.equal(certsDirCaPath("10.0.0.5:5000"), "/etc/docker/certs.d/10.0.0.5:5000/ca.crt");
    assert.throws(() => certsDirCaPath("https://10.0.0.5"), /not a registry address/);
  });
});

describe("RegistryConfigSchema", () => {
  it("applies every default", () => {
    const config = RegistryConfigSchema.parse({});
    assert.deepEqual(config, {
      enabled: false,
      port: 5000,
      runAs: "service",
      image: "registry:2",
      storagePath: "/var/lib/docker-registry",
      username: "dockfleet",
      authentication: true,
      loginOnHosts: true,
      deleteEnabled: false,
      removeDataOnDestroy: false,
    });
  });

  it("keeps authentication on in pull-through mode unless turned off", () => {
    const proxied = RegistryConfigSchema.parse({
      proxy: { remoteUrl: "https://registry-1.docker.io" },
    });
    assert.equal(proxied.authentication, true);
    assert.equal(proxied.proxy?.anonymousPullsOfPrivateUpstream, false);
    const mirror = RegistryConfigSchema.parse({ ...proxied, authentication: false });
    assert.equal(mirror.authentication, false);
  });

  it("refuses anonymous pulls through the operator's upstream credentials unless asked by name", () => {
    const privateUpstream = {
      authentication: false,
      proxy: { remoteUrl: "https://registry.example.com", username: "ci", password: "s3cret-pw" },
    };
    const refused = RegistryConfigSchema.safeParse(privateUpstream);
    assert.equal(refused.success, false);
    assert.deepEqual(
      refused.error?.issues.map((issue) => issue.path.join(".")),
      ["authentication"],
    );
    assert.match(refused.error?.issues[0].message ?? "", /anonymousPullsOfPrivateUpstream/);
    assert.doesNotMatch(JSON.stringify(refused.error?.issues), /s3cret-pw/);
    const asked = RegistryConfigSchema.parse({
      ...privateUpstream,
      proxy: { ...privateUpstream.proxy, anonymousPullsOfPrivateUpstream: true },
    });
    assert.equal(asked.authentication, false);
    // With authentication on, the upstream credentials stay behind the registry's own login.
    assert.equal(
      RegistryConfigSchema.safeParse({ ...privateUpstream, authentication: true }).success,
      true,
    );
  });

  it("names the bad key", () => {
    const result = RegistryConfigSchema.safeParse({
      runAs: "docker",
      proxy: { remoteUrl: "x", username: "u" },
    });
    assert.equal(result.success, false);
    const paths = result.error?.issues.map((issue) => issue.path.join(".")).sort();
    assert.deepEqual(paths, ["proxy.remoteUrl", "runAs"]);
  });
});
