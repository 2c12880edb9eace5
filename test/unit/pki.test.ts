import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type CertificateAndKey,
  type CertificateAuthority,
} from "../../provision/pki";

/** Connects as a TLS client and reports whether the server let it through to read its greeting. */
function tryHandshake(
  port: number,
  ca: string,
  clientCert?: CertificateAndKey,
): Promise<{ greeting: string; error?: string }> {
  return new Promise((resolve) => {
    let greeting = "";
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca,
      cert: clientCert?.certPem,
      key: clientCert?.keyPem,
    });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (greeting += chunk));
    socket.on("error", (error: Error) => resolve({ greeting, error: error.message }));
    socket.on("close", () => resolve({ greeting }));
  });
}

describe("PKI", () => {
  let ca: CertificateAuthority;
  let server: CertificateAndKey;
  let client: CertificateAndKey;
  let workDir: string;

  before(async () => {
    ca = await createCertificateAuthority({ commonName: "dockfleet-test CA", validityDays: 30 });
    server = await issueServerCertificate(ca, {
      commonName: "host-1",
      ipAddresses: ["10.0.0.5", "192.0.2.7", "2001:db8::5", "127.0.0.1"],
      dnsNames: ["host-1", "host-1.example.com"],
      validityDays: 7,
    });
    client = await issueClientCertificate(ca, { commonName: "dockfleet-operator" });
    workDir = mkdtempSync(join(tmpdir(), "dockfleet-pki-test-"));
  });

  after(() => rmSync(workDir, { recursive: true, force: true }));

  it("creates an ECDSA P-256 CA with PKCS#8 key and basicConstraints CA:TRUE", () => {
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, "CN=dockfleet-test CA");
    assert.equal(cert.issuer, cert.subject);
    assert.ok(cert.verify(cert.publicKey), "the CA is not self-signed");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    const validDays = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.ok(validDays > 29.9 && validDays < 30.1, `CA valid for ${validDays} days`);
  });

  it("issues a server certificate whose SANs cover every address plus localhost and 127.0.0.1", () => {
    const cert = new X509Certificate(server.certPem);
    assert.equal(cert.ca, false);
    assert.equal(cert.subject, "CN=host-1");
    assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    const sans = (cert.subjectAltName ?? "").split(", ").sort();
    assert.deepEqual(sans, [
      "DNS:host-1",
      "DNS:host-1.example.com",
      "DNS:localhost",
      "IP Address:10.0.0.5",
      "IP Address:127.0.0.1",
      "IP Address:192.0.2.7",
      "IP Address:2001:DB8:0:0:0:0:0:5",
    ]);
    assert.equal(cert.checkIP("10.0.0.5"), "10.0.0.5");
    assert.equal(cert.checkIP("10.0.0.6"), undefined);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
    assert.equal(createPrivateKey(server.keyPem).asymmetricKeyType, "ec");
  });

  it("issues a client certificate for clientAuth, and server-and-client certificates for etcd peers", async () => {
    const cert = new X509Certificate(client.certPem);
    assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
    const peer = await issueServerCertificate(ca, {
      commonName: "etcd-1",
      ipAddresses: ["10.0.0.9"],
      usage: "server-and-client",
    });
    assert.deepEqual(new X509Certificate(peer.certPem).keyUsage?.sort(), [
      "1.3.6.1.5.5.7.3.1",
      "1.3.6.1.5.5.7.3.2",
    ]);
  });

  it("passes openssl verify for the right purposes, and fails against another CA", async () => {
    const file = (name: string, content: string) => {
      const path = join(workDir, name);
      writeFileSync(path, content);
      return path;
    };
    const caFile = file("ca.pem", ca.certPem);
    const serverFile = file("server.pem", server.certPem);
    const clientFile = file("client.pem", client.certPem);
    const verify = (...args: string[]) =>
      execFileSync("openssl", ["verify", ...args], { encoding: "utf8" });
    assert.match(verify("-CAfile", caFile, "-purpose", "sslserver", serverFile), /server\.pem: OK/);
    assert.match(verify("-CAfile", caFile, "-purpose", "sslclient", clientFile), /client\.pem: OK/);
    assert.throws(() => verify("-CAfile", caFile, "-purpose", "sslserver", clientFile));
    const other = await createCertificateAuthority({ commonName: "someone else's CA" });
    assert.throws(() => verify("-CAfile", file("other.pem", other.certPem), serverFile));
  });

  it("does a real mutual-TLS handshake: the CA's client gets in, others are refused", async () => {
    const serverSideErrors: string[] = [];
    let accepted = 0;
    const listener = tls.createServer(
      {
        key: server.keyPem,
        cert: server.certPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => {
        accepted += 1;
        socket.end("hello from dockerd\n");
      },
    );
    listener.on("tlsClientError", (error: Error) => serverSideErrors.push(error.message));
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const { port } = listener.address() as AddressInfo;
    /** One attempt, judged on both sides: what the client read, what the server said. */
    const attempt = async (trustedCa: string, clientCert?: CertificateAndKey) => {
      const [acceptedBefore, errorsBefore] = [accepted, serverSideErrors.length];
      const outcome = await tryHandshake(port, trustedCa, clientCert);
      return {
        ...outcome,
        accepted: accepted - acceptedBefore,
        serverErrors: serverSideErrors.slice(errorsBefore),
      };
    };
    try {
      const trusted = await attempt(ca.certPem, client);
      assert.equal(trusted.error, undefined);
      assert.equal(trusted.greeting, "hello from dockerd\n");
      assert.equal(trusted.accepted, 1);

      const anonymous = await attempt(ca.certPem);
      assert.equal(anonymous.greeting, "");
      assert.equal(anonymous.accepted, 0);
      assert.match(anonymous.serverErrors.join(), /peer did not return a certificate/i);

      const other = await createCertificateAuthority({ commonName: "someone else's CA" });
      const stranger = await issueClientCertificate(other, { commonName: "stranger" });
      const refused = await attempt(ca.certPem, stranger);
      assert.equal(refused.greeting, "");
      assert.equal(refused.accepted, 0);
      // Node's server destroys a socket whose client certificate fails verification.
      assert.equal(refused.serverErrors.length, 1);

      // The client checks the server too: a CA that did not issue the server certificate fails.
      const distrustful = await attempt(other.certPem, client);
      assert.equal(distrustful.accepted, 0);
      assert.match(distrustful.error ?? "", /self.signed|unable to (get|verify)/i);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it("refuses bad input, naming the value and the fix", async () => {
    await assert.rejects(
      createCertificateAuthority({ commonName: "" }),
      /commonName is ""; give a non-empty name/,
    );
    await assert.rejects(
      createCertificateAuthority({ commonName: "x", validityDays: 0 }),
      /validityDays is 0; give a number of days, at least one minute/,
    );
    await assert.rejects(
      issueServerCertificate(ca, { commonName: "h", ipAddresses: ["host-1"] }),
      /ipAddresses holds "host-1", which is not an IPv4 or IPv6 address; put host names in dnsNames/,
    );
    await assert.rejects(
      issueServerCertificate(ca, { commonName: "h", dnsNames: ["bad name"] }),
      /dnsNames holds "bad name"/,
    );
    await assert.rejects(
      issueClientCertificate(
        { certPem: server.certPem, keyPem: server.keyPem },
        { commonName: "c" },
      ),
      /is not a CA/,
    );
  });
});
