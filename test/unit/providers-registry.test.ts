/**
 * RegistryTrust against a fake host: the registry's CA and the login password are uploaded as
 * files, the script gets the addresses to trust and to forget, and the password is never on a
 * command line or in the environment.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import { readScript } from "../../provision/dynamic/remote-step";
import { REGISTRY_TRUST_STAGING_DIR } from "../../components/registry/plan";
import { registryTrustProvider } from "../../components/registry/resources/registry-trust";
import {
  FakeCommander,
  commandLinesWith,
  fakeHostsPerTest,
  scriptResult,
} from "../helpers/fake-ssh";

type TrustInputs = Parameters<typeof registryTrustProvider.create>[0];

const TRUST_SCRIPT = readScript(
  path.join(__dirname, "../../components/registry"),
  "trust-registry.sh",
);
const PASSWORD = "registry-password-5ecret";
const at = (name: string) => `${REGISTRY_TRUST_STAGING_DIR}/${name}`;

function trustInputs(overrides: Partial<TrustInputs> = {}): TrustInputs {
  return {
    host: "host-2",
    connection: { host: "10.0.0.2", port: 22, user: "root", privateKey: "fake ssh key" },
    logUrn: "",
    script: TRUST_SCRIPT,
    addresses: ["10.0.0.1:5000", "registry.internal:5000"],
    caCertPem: "REGISTRY CA\n",
    loginAddress: "registry.internal:5000",
    username: "dockfleet",
    password: PASSWORD,
    ...overrides,
  };
}

function trustHost(): FakeCommander {
  return new FakeCommander("10.0.0.2:22")
    .on(new RegExp(`^install -d -m 0700 ${REGISTRY_TRUST_STAGING_DIR}$`), {})
    .on(/^bash -s$/, (call) => {
      assert.equal(call.stdin, TRUST_SCRIPT);
      return scriptResult({ changed: "1" });
    });
}

const install = fakeHostsPerTest();

describe("registryTrustProvider", () => {
  it("uploads the CA and the password file (0600), then trusts every address and logs in", async () => {
    const host = trustHost();
    install(host);

    const { id } = await registryTrustProvider.create(trustInputs());

    assert.equal(id, "host-2-registry-trust");
    assert.deepEqual(
      host.uploads.map((upload) => [upload.path, upload.mode]),
      [
        [at("ca.crt"), 0o644],
        [at("password"), 0o600],
      ],
    );
    assert.equal(host.upload(at("password")).content, PASSWORD);
    assert.deepEqual(host.ran(/^bash -s$/)[0].env, {
      ADDRESSES: "10.0.0.1:5000 registry.internal:5000",
      STALE_ADDRESSES: "",
      LOGIN_ADDRESS: "registry.internal:5000",
      LOGOUT_ADDRESS: "",
      REGISTRY_USERNAME: "dockfleet",
      STAGING_DIR: REGISTRY_TRUST_STAGING_DIR,
    });
    assert.deepEqual(commandLinesWith(PASSWORD, host), []);
    assert.ok(host.commands.every((call) => !Object.values(call.env).includes(PASSWORD)));
  });

  it("without a login, uploads no password", async () => {
    const host = trustHost();
    install(host);

    await registryTrustProvider.create(
      trustInputs({ loginAddress: "", username: "", password: "" }),
    );

    assert.deepEqual(
      host.uploads.map((upload) => upload.path),
      [at("ca.crt")],
    );
    assert.equal(host.ran(/^bash -s$/)[0].env.LOGIN_ADDRESS, "");
  });

  it("update forgets the addresses no longer given and logs out of the old login address", async () => {
    const host = trustHost();
    install(host);

    await registryTrustProvider.update!(
      "id",
      trustInputs(),
      trustInputs({ addresses: ["10.0.0.1:5000"], loginAddress: "10.0.0.1:5000" }),
    );

    const env = host.ran(/^bash -s$/)[0].env;
    assert.equal(env.ADDRESSES, "10.0.0.1:5000");
    assert.equal(env.STALE_ADDRESSES, "registry.internal:5000");
    assert.equal(env.LOGIN_ADDRESS, "10.0.0.1:5000");
    assert.equal(env.LOGOUT_ADDRESS, "registry.internal:5000");
  });

  it("diff: a new password is an update in place", async () => {
    const diff = await registryTrustProvider.diff!(
      "id",
      trustInputs(),
      trustInputs({ password: "rotated" }),
    );
    assert.deepEqual(diff, { changes: true, replaces: [] });
  });

  it("delete untrusts every address; a host that is gone is skipped", async () => {
    const host = trustHost();
    install(host);

    await registryTrustProvider.delete!("id", trustInputs());

    assert.deepEqual(
      host.commands.map((call) => [call.command, call.env]),
      [
        [
          "bash -s",
          {
            ADDRESSES: "10.0.0.1:5000 registry.internal:5000",
            REMOVE: "1",
            STAGING_DIR: REGISTRY_TRUST_STAGING_DIR,
          },
        ],
      ],
    );

    host.unreachable = true;
    await registryTrustProvider.delete!("id", trustInputs());
    assert.equal(host.commands.length, 1);
  });
});
