import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { certificateProvider, planCertificateChange } from "../../provision/pki/certificate";
import {
  type CertificateAuthority,
  createCertificateAuthority,
} from "../../provision/pki/certificates";
import { inspectCertificate } from "../../provision/pki/inspect";
// After the module above, which loads the Reflect polyfill x509 needs.
import * as x509 from "@peculiar/x509";
import { certificateLifetime, resolveCertificatesConfig } from "../../provision/pki/config";
import {
  DAY_MS,
  durationDays,
  durationSeconds,
  namesChanged,
  renewalDue,
} from "../../provision/pki/renewal";
import { certificateHosts, certificateUrns, regenerateArgs } from "../../cli/regenerate-certs";

const at = (iso: string) => new Date(iso);

describe("certificate renewal: the decision", () => {
  const notAfter = at("2027-03-01T00:00:00Z");

  it("renews once now is within the window of expiry, not before", () => {
    assert.equal(renewalDue(at("2027-01-01T00:00:00Z"), notAfter, 30), false);
    assert.equal(renewalDue(at("2027-01-29T23:59:59Z"), notAfter, 30), false);
    // The window's first instant counts as inside it.
    assert.equal(renewalDue(at("2027-01-30T00:00:00Z"), notAfter, 30), true);
    assert.equal(renewalDue(at("2027-02-20T00:00:00Z"), notAfter, 30), true);
    // Expired already: certainly.
    assert.equal(renewalDue(at("2027-04-01T00:00:00Z"), notAfter, 30), true);
  });

  it("takes windows shorter than a day (test certificates of minutes)", () => {
    const soon = new Date(Date.UTC(2027, 0, 1, 12, 3, 0));
    const twoMinutes = 2 / 1440;
    assert.equal(renewalDue(new Date(soon.getTime() - 121_000), soon, twoMinutes), false);
    assert.equal(renewalDue(new Date(soon.getTime() - 119_000), soon, twoMinutes), true);
  });

  it("compares names as sets, with the implied ones, and DNS names without case", () => {
    const issued = {
      commonName: "host-1",
      ipAddresses: ["172.30.80.10", "127.0.0.1"],
      dnsNames: ["host-1", "localhost"],
    };
    const implied = { ipAddresses: ["127.0.0.1"], dnsNames: ["localhost"] };
    const same = { commonName: "host-1", ipAddresses: ["172.30.80.10"], dnsNames: ["HOST-1"] };
    assert.equal(namesChanged(issued, same, implied), false);
    assert.equal(
      namesChanged(issued, { ...same, ipAddresses: ["172.30.80.10", "172.30.80.10"] }, implied),
      false,
      "duplicates do not matter",
    );
    assert.equal(
      namesChanged(issued, { ...same, ipAddresses: ["172.30.80.11"] }, implied),
      true,
      "a new address",
    );
    assert.equal(
      namesChanged(issued, { ...same, ipAddresses: ["172.30.80.10", "10.0.0.5"] }, implied),
      true,
      "an added address",
    );
    assert.equal(namesChanged(issued, { ...same, dnsNames: [] }, implied), true, "a name gone");
    assert.equal(namesChanged(issued, { ...same, commonName: "host-2" }, implied), true);
    assert.equal(namesChanged(issued, same), true, "without the implied names they are missing");
    const v6 = { commonName: "h", ipAddresses: ["2001:db8::1"], dnsNames: [] };
    assert.equal(
      namesChanged(v6, { ...v6, ipAddresses: ["2001:0DB8:0:0::0001"] }),
      false,
      "one IPv6 address, two spellings",
    );
  });

  it("reads durations in days, hours, minutes and seconds", () => {
    assert.equal(durationSeconds("30d"), 30 * 86_400);
    assert.equal(durationSeconds("12h"), 12 * 3_600);
    assert.equal(durationSeconds("3m"), 180);
    assert.equal(durationSeconds("45s"), 45);
    for (const bad of ["30", "30 d", "0d", "1.5d", "-1d", "30days", "1w", ""]) {
      assert.equal(durationSeconds(bad), undefined, bad);
    }
    assert.equal(durationDays("825d"), 825);
    assert.equal(durationDays("36h"), 1.5);
    assert.throws(() => durationDays("soon"), /not a duration like "30d"/);
  });

  it("config: defaults 825d and 30d, short test lifetimes, errors naming the key", () => {
    assert.deepEqual(certificateLifetime(resolveCertificatesConfig()), {
      validityDays: 825,
      renewBeforeDays: 30,
    });
    const short = certificateLifetime(
      resolveCertificatesConfig({ duration: "3m", renewBefore: "2m" }),
    );
    assert.equal(Math.round(short.validityDays * DAY_MS), 180_000);
    assert.equal(Math.round(short.renewBeforeDays * DAY_MS), 120_000);
    assert.throws(
      () => resolveCertificatesConfig({ renewBefore: "900d" }),
      /dockfleet:certificates\.renewBefore = "900d": must be shorter than certificates\.duration \(825d\)/,
    );
    assert.throws(
      () => resolveCertificatesConfig({ duration: "30s", renewBefore: "10s" }),
      /dockfleet:certificates\.duration = "30s": must be at least 1m/,
    );
    assert.throws(() => resolveCertificatesConfig({ duration: "4000d" }), /must be at most 3650d/);
    assert.throws(
      () => resolveCertificatesConfig({ renewBefore: "a month" }, "engine certificates"),
      /engine certificates\.renewBefore = "a month": must be a duration like "30d"/,
    );
  });
});

describe("certificate renewal: the Certificate resource's diff and update", () => {
  let ca: CertificateAuthority;
  let olds: Parameters<typeof planCertificateChange>[0];
  const inputs = {
    kind: "server" as const,
    commonName: "host-1",
    ipAddresses: ["172.30.80.10", "10.0.0.10"],
    dnsNames: [] as string[],
    validityDays: 825,
    usage: "server" as const,
    renewBeforeDays: 30,
    host: "host-1",
  };

  before(async () => {
    ca = await createCertificateAuthority({ commonName: "renewal test CA", validityDays: 30 });
    const news = { ...inputs, caCertPem: ca.certPem, caKeyPem: ca.keyPem };
    const { outs } = await certificateProvider.create(news);
    olds = outs as typeof olds;
  });

  const news = () => ({ ...inputs, caCertPem: ca.certPem, caKeyPem: ca.keyPem });
  const notAfter = () => inspectCertificate(olds.certPem).notAfter;

  it("changes nothing while the certificate is outside the window, and for a new window alone", () => {
    assert.deepEqual(planCertificateChange(olds, news(), new Date()), {
      changes: false,
      replaces: [],
    });
    assert.equal(
      planCertificateChange(olds, { ...news(), renewBeforeDays: 10, host: "other" }, new Date())
        .changes,
      false,
    );
  });

  it("renews in place once inside the window; never without a window (a CA's default)", () => {
    const inWindow = new Date(notAfter().getTime() - 29 * DAY_MS);
    const change = planCertificateChange(olds, news(), inWindow);
    assert.equal(change.changes, true);
    assert.deepEqual(change.replaces, []);
    assert.match(change.renew ?? "", /within the renewal window of 30 day/);
    assert.equal(
      planCertificateChange(olds, { ...news(), renewBeforeDays: undefined }, inWindow).changes,
      false,
    );
  });

  it("replaces for other names, not for the same names in another order", () => {
    const reordered = { ...news(), ipAddresses: ["10.0.0.10", "172.30.80.10", "127.0.0.1"] };
    assert.equal(planCertificateChange(olds, reordered, new Date()).changes, false);
    const moved = { ...news(), ipAddresses: ["172.30.80.99", "10.0.0.10"] };
    assert.deepEqual(planCertificateChange(olds, moved, new Date()), {
      changes: true,
      replaces: ["ipAddresses"],
    });
    assert.deepEqual(planCertificateChange(olds, { ...news(), dnsNames: ["host-1"] }, new Date()), {
      changes: true,
      replaces: ["dnsNames"],
    });
  });

  it("replaces for another CA or lifetime, as before", async () => {
    const other = await createCertificateAuthority({ commonName: "other CA", validityDays: 30 });
    assert.deepEqual(
      planCertificateChange(olds, { ...news(), caCertPem: other.certPem }, new Date()).replaces,
      ["caCertPem"],
    );
    assert.deepEqual(
      planCertificateChange(olds, { ...news(), validityDays: 90 }, new Date()).replaces,
      ["validityDays"],
    );
  });

  it("state written before renewal existed (no window, no host inputs) changes nothing", () => {
    const { renewBeforeDays: _window, host: _host, ...older } = olds;
    assert.equal(planCertificateChange(older, news(), new Date()).changes, false);
  });

  it("update issues a new certificate from the same CA: same names, new serial and key", async () => {
    const { outs } = await certificateProvider.update!("server:host-1", olds, news());
    const before = inspectCertificate(olds.certPem);
    const after = inspectCertificate(outs!.certPem as string);
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.notEqual(outs!.keyPem, olds.keyPem);
    assert.deepEqual(after.ipAddresses.sort(), before.ipAddresses.sort());
    assert.equal(after.commonName, "host-1");
    // Signed by the same CA.
    const renewed = new x509.X509Certificate(outs!.certPem as string);
    const caCert = new x509.X509Certificate(ca.certPem);
    assert.equal(renewed.issuer, caCert.subject);
    assert.equal(await renewed.verify({ publicKey: caCert.publicKey, signatureOnly: true }), true);
    assert.equal("caKeyPem" in outs!, false, "the CA key stays out of the outputs");
  });
});

describe("dockfleet regenerate-certs: which certificates", () => {
  const type = "pulumi-nodejs:dynamic/dockfleet:Certificate";
  const urn = (name: string) => `urn:pulumi:s::dockfleet::${type}::${name}`;
  const deployment = {
    resources: [
      { urn: urn("s-ca"), type, inputs: { kind: "ca" } },
      { urn: urn("s-client-cert"), type, inputs: { kind: "client" } },
      { urn: urn("s-host-1-engine-server-cert"), type, inputs: { kind: "server", host: "host-1" } },
      { urn: urn("s-etcd-host-1-cert"), type, inputs: { kind: "server", host: "host-1" } },
      { urn: urn("s-host-2-engine-server-cert"), type, inputs: { kind: "server", host: "host-2" } },
      {
        urn: "urn:pulumi:s::dockfleet::x:DockerConfig::c",
        type: "x:DockerConfig",
        inputs: { host: "host-1" },
      },
    ],
  };

  it("with a host: that host's certificates only; without: every one but the CA", () => {
    assert.deepEqual(certificateUrns(deployment, "host-1"), [
      urn("s-host-1-engine-server-cert"),
      urn("s-etcd-host-1-cert"),
    ]);
    assert.deepEqual(certificateUrns(deployment, "host-9"), []);
    assert.deepEqual(certificateUrns(deployment), [
      urn("s-client-cert"),
      urn("s-host-1-engine-server-cert"),
      urn("s-etcd-host-1-cert"),
      urn("s-host-2-engine-server-cert"),
    ]);
    assert.deepEqual(certificateHosts(deployment), ["host-1", "host-2"]);
    assert.deepEqual(regenerateArgs([urn("a"), urn("b")]), [
      "--replace",
      urn("a"),
      "--replace",
      urn("b"),
    ]);
  });
});
