import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
} from "../../provision/pki/certificates";
// After the module above, which loads the Reflect polyfill x509 needs.
import * as x509 from "@peculiar/x509";
import { inspectCertificate } from "../../provision/pki/inspect";

/** What the X.509 library that issued a certificate reads from it, in inspectCertificate's shape. */
function readWithLibrary(certPem: string) {
  const cert = new x509.X509Certificate(certPem);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  return {
    serialNumber: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ""),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    commonName: cert.subjectName.getField("CN")[0] ?? "",
    ipAddresses: names.filter((name) => name.type === "ip").map((name) => name.value),
    dnsNames: names.filter((name) => name.type === "dns").map((name) => name.value),
  };
}

describe("inspectCertificate (Node's X509Certificate)", () => {
  it("reads what the issuing library reads: serial, validity, subject, IPv4 and IPv6 SANs", async () => {
    const ca = await createCertificateAuthority({ commonName: "inspect test CA" });
    const server = await issueServerCertificate(ca, {
      commonName: "host-1",
      ipAddresses: ["172.30.1.10", "fd00::1", "2001:db8:0:0:1:0:0:1"],
      dnsNames: ["host-1.example", "registry.internal"],
      validityDays: 30,
    });
    const client = await issueClientCertificate(ca, { commonName: "operator" });
    for (const pem of [ca.certPem, server.certPem, client.certPem]) {
      assert.deepEqual(inspectCertificate(pem), readWithLibrary(pem));
    }
    const facts = inspectCertificate(server.certPem);
    assert.deepEqual(facts.ipAddresses, [
      "172.30.1.10",
      "fd00::1",
      "2001:db8::1:0:0:1",
      "127.0.0.1",
    ]);
    assert.deepEqual(facts.dnsNames, ["host-1.example", "registry.internal", "localhost"]);
    const days = (facts.notAfter.getTime() - facts.notBefore.getTime()) / 86_400_000;
    assert.ok(days > 29.9 && days < 30.1, `validity ${days} days`);
  });

  it("throws on text that is not a certificate", () => {
    assert.throws(() =>
      inspectCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    );
  });
});
