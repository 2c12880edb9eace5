import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createCertificateAuthority,
  createRevocationList,
  issueClientCertificate,
} from "../../provision/pki/certificates";
import { inspectCertificate } from "../../provision/pki/inspect";
import { planRevocations, type IssuedCertificate } from "../../provision/pki/revocation-list";

const now = new Date("2026-12-04T12:00:00Z");
const issued = (
  serialNumber: string,
  notAfter = "2028-01-01T00:00:00.000Z",
): IssuedCertificate => ({
  serialNumber,
  notAfter,
  subject: `host-${serialNumber}`,
});

describe("planRevocations", () => {
  it("revokes what left the certificates in use, and keeps what it revoked before", () => {
    const before = { issued: [issued("a"), issued("b"), issued("c")], revoked: [] };
    const first = planRevocations(before, [issued("a"), issued("c")], now);
    assert.deepEqual(first, [{ ...issued("b"), revokedAt: now.toISOString() }]);
    const later = new Date("2026-12-05T00:00:00Z");
    const second = planRevocations(
      { issued: [issued("a"), issued("c")], revoked: first },
      [issued("a")],
      later,
    );
    assert.deepEqual(
      second.map((entry) => [entry.serialNumber, entry.revokedAt]),
      [
        ["b", now.toISOString()],
        ["c", later.toISOString()],
      ],
    );
  });

  it("revokes nothing on create, drops expired entries, and never one back in use", () => {
    assert.deepEqual(planRevocations(undefined, [issued("a")], now), []);
    const expired = {
      ...issued("old", "2026-01-01T00:00:00.000Z"),
      revokedAt: "2025-06-01T00:00:00.000Z",
    };
    const back = { ...issued("a"), revokedAt: "2026-06-01T00:00:00.000Z" };
    assert.deepEqual(
      planRevocations({ issued: [], revoked: [expired, back] }, [issued("a")], now),
      [],
    );
  });
});

describe("createRevocationList", () => {
  it("signs a CRL that OpenSSL reads and that revokes the listed certificate only", async () => {
    const ca = await createCertificateAuthority({ commonName: "test CA" });
    const [revoked, kept] = await Promise.all([
      issueClientCertificate(ca, { commonName: "left" }),
      issueClientCertificate(ca, { commonName: "stays" }),
    ]);
    const crl = await createRevocationList(
      ca,
      [{ serialNumber: inspectCertificate(revoked.certPem).serialNumber, revokedAt: now }],
      inspectCertificate(ca.certPem).notAfter,
    );
    // Go's x509.ParseCRL (etcd) looks for this label.
    assert.match(crl, /^-----BEGIN X509 CRL-----\n/);
    const dir = mkdtempSync(join(tmpdir(), "dockfleet-crl-"));
    try {
      const file = (name: string, content: string) => {
        writeFileSync(join(dir, name), content);
        return join(dir, name);
      };
      const [caFile, crlFile] = [file("ca.pem", ca.certPem), file("crl.pem", crl)];
      const verify = (certPem: string) => {
        try {
          execFileSync(
            "openssl",
            [
              "verify",
              "-crl_check",
              "-CAfile",
              caFile,
              "-CRLfile",
              crlFile,
              file("leaf.pem", certPem),
            ],
            {
              stdio: "pipe",
            },
          );
          return "ok";
        } catch (error) {
          const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
          return `${stdout?.toString() ?? ""}${stderr?.toString() ?? String(error)}`;
        }
      };
      assert.match(verify(revoked.certPem), /certificate revoked/);
      assert.equal(verify(kept.certPem), "ok");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
