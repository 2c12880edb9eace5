import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";

/**
 * The example program under Pulumi mocks, importing dockfleet as another project would (the
 * package's exports map; run `npm run build` first): the container is bound to the
 * @pulumi/docker Provider dockfleet made for the host's engine, and the client key reaches the
 * engine only as a secret.
 */

interface Registration {
  type: string;
  name: string;
  urn: string;
  provider: string;
  /** The inputs as sent to the engine, secrets still wrapped. */
  wire: Record<string, unknown>;
}

const registrations: Registration[] = [];
const SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getProvider(): string;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface Monitor {
  registerResource(
    request: RegisterRequest,
    callback: (error: Error | null, response?: { getUrn(): string }) => void,
  ): void;
}

before(() => {
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type.endsWith(":SshHost")) state.hostKey = "ssh-ed25519 AAAApinned";
        if (args.type.endsWith(":Certificate")) {
          state.certPem = `cert of ${String(args.inputs.commonName)}`;
          state.keyPem = `key of ${String(args.inputs.commonName)}`;
        }
        if (args.type.endsWith(":DockerInstall")) {
          state.version = "20.10.24";
          state.dockerdPath = "/usr/sbin/dockerd";
        }
        if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = "sha256:mock";
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    "dockfleet-docker-app",
    "unit",
    true,
  );
  // The mock monitor hands newResource the inputs with secrets unwrapped; what the engine would
  // store is the request itself, so read the secret markers there.
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) =>
    register(request, (error, response) => {
      registrations.push({
        type: request.getType(),
        name: request.getName(),
        urn: response?.getUrn() ?? "",
        provider: request.getProvider(),
        wire: request.getObject()?.toJavaScript() ?? {},
      });
      callback(error, response);
    });
  pulumi.runtime.setAllConfig(
    {
      "dockfleet:driver": "ssh",
      "dockfleet:sshHosts": JSON.stringify([{ name: "app-1", address: "192.0.2.10" }]),
      "dockfleet:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nmock\n",
      "docker-app:port": "8081",
    },
    ["dockfleet:sshPrivateKey"],
  );
});

const valueOf = <T>(output: pulumi.Output<T>) =>
  new Promise<T>((resolve) => output.apply((value) => resolve(value)));

function isWireSecret(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIGNATURE
  );
}

describe("examples/docker-app under mocks", () => {
  it("imports dockfleet without side effects: no resource, no config read", async () => {
    const library = await import("dockfleet");
    for (const name of ["DockerEngine", "SshMachines", "Certificate", "createDockerProvider"]) {
      assert.equal(typeof (library as Record<string, unknown>)[name], "function", name);
    }
    assert.equal(registrations.length, 0);
  });

  it("deploys a container on the engine through the Provider dockfleet exposes", async () => {
    const program = await import("./index.js");
    const [app] = program.apps;
    assert.equal(await valueOf(app.dockerHost), "tcp://192.0.2.10:2376");
    assert.equal(await valueOf(app.url), "http://192.0.2.10:8081");
    // Resolves once the container is registered, so after its image and provider too.
    assert.equal(await valueOf(app.container), "web");

    const providers = registrations.filter((r) => r.type === "pulumi:providers:docker");
    assert.deepEqual(
      providers.map((r) => r.name),
      ["app-1-docker"],
    );
    const [provider] = providers;
    assert.equal(provider.wire.host, "tcp://192.0.2.10:2376");
    assert.equal(provider.wire.caMaterial, "cert of docker-app CA");
    assert.equal(provider.wire.certMaterial, "cert of docker-app");
    assert.ok(isWireSecret(provider.wire.keyMaterial), "the client key is sent as a secret");
    assert.equal((provider.wire.keyMaterial as { value: string }).value, "key of docker-app");

    const container = registrations.find((r) => r.type === "docker:index/container:Container");
    assert.ok(container, "a docker.Container is registered");
    // A provider reference is "<provider URN>::<provider id>".
    assert.equal(container.provider, `${provider.urn}::app-1-docker-id`);
    assert.equal(container.wire.image, "sha256:mock");
    assert.deepEqual(
      container.wire.ports,
      [{ internal: 80, external: 8081, ip: "0.0.0.0", protocol: "tcp" }].map(
        ({ internal, external }) => ({ internal, external }),
      ),
    );
    const image = registrations.find((r) => r.type === "docker:index/remoteImage:RemoteImage");
    assert.equal(image?.provider, container.provider, "the image is pulled on the same engine");
  });
});
