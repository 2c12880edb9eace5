// @peculiar/x509 2.x resolves its services through tsyringe, which refuses to load without a
// Reflect metadata polyfill: this import must come before the library's.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import { randomBytes, webcrypto } from "node:crypto";

/** A certificate and its private key, both PEM (the key is unencrypted PKCS#8). */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** A certificate authority: its self-signed certificate and the key that signs what it issues. */
export type CertificateAuthority = CertificateAndKey;

export interface CertificateAuthorityArgs {
  /** Subject and issuer common name of the CA ("dockfleet-local CA"). */
  commonName: string;
  /** How long the CA is valid, in days. @default 3650 */
  validityDays?: number;
}

export interface ServerCertificateArgs {
  /** Subject common name, usually the host name. Not used for name checks: the SANs are. */
  commonName: string;
  /**
   * Every address the host is reached at (public, private, IPv4 and IPv6). 127.0.0.1 is always
   * added, so that a client on the host itself is accepted too.
   */
  ipAddresses?: string[];
  /** DNS names the host is reached at. "localhost" is always added. */
  dnsNames?: string[];
  /** How long the certificate is valid, in days (fractions for short-lived test certificates). @default 1095 */
  validityDays?: number;
  /**
   * "server" gives extKeyUsage serverAuth (Docker's API on 2376); "server-and-client" gives
   * serverAuth and clientAuth, for peers that are both (etcd members talking to each other).
   * @default "server"
   */
  usage?: "server" | "server-and-client";
}

export interface ClientCertificateArgs {
  /** Subject common name of the client ("dockfleet-operator"). */
  commonName: string;
  /** How long the certificate is valid, in days (fractions for short-lived test certificates). @default 1095 */
  validityDays?: number;
}

const DEFAULT_CA_VALIDITY_DAYS = 3650;
const DEFAULT_LEAF_VALIDITY_DAYS = 1095;
/** Backdate notBefore so hosts whose clocks lag a little still accept a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const ECDSA_P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

/** Creates a self-signed ECDSA P-256 certificate authority, like docker-machine's ca.pem/ca-key.pem. */
export async function createCertificateAuthority(
  args: CertificateAuthorityArgs,
): Promise<CertificateAuthority> {
  const commonName = requireCommonName(args.commonName, "createCertificateAuthority");
  const validityDays = requireValidityDays(
    args.validityDays ?? DEFAULT_CA_VALIDITY_DAYS,
    "createCertificateAuthority",
  );
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(validityDays);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: distinguishedName(commonName),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
}

/**
 * Issues a TLS server certificate signed by `ca`. Its SANs hold every given address and name,
 * plus 127.0.0.1 and localhost, without duplicates.
 */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  args: ServerCertificateArgs,
): Promise<CertificateAndKey> {
  const where = "issueServerCertificate";
  const ipAddresses = unique([...(args.ipAddresses ?? []), "127.0.0.1"]);
  for (const address of ipAddresses) {
    if (isIP(address) === 0) {
      throw new Error(
        `${where}: ipAddresses holds ${JSON.stringify(address)}, which is not an IPv4 or IPv6 address; ` +
          `put host names in dnsNames instead.`,
      );
    }
  }
  const dnsNames = unique([...(args.dnsNames ?? []), "localhost"]);
  for (const name of dnsNames) {
    if (!/^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?$/.test(name)) {
      throw new Error(
        `${where}: dnsNames holds ${JSON.stringify(name)}, which is not a DNS name; ` +
          `use letters, digits, dots and dashes (IP addresses go in ipAddresses).`,
      );
    }
  }
  const usage = args.usage ?? "server";
  if (usage !== "server" && usage !== "server-and-client") {
    throw new Error(
      `${where}: usage is ${JSON.stringify(usage)}; use "server" or "server-and-client".`,
    );
  }
  const extendedKeyUsages =
    usage === "server"
      ? [x509.ExtendedKeyUsage.serverAuth]
      : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const subjectAltNames: x509.JsonGeneralNames = [
    ...dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  return issueLeafCertificate(ca, {
    commonName: requireCommonName(args.commonName, where),
    validityDays: requireValidityDays(args.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS, where),
    extendedKeyUsages,
    extraExtensions: [new x509.SubjectAlternativeNameExtension(subjectAltNames, false)],
  });
}

/** Issues a TLS client certificate (extKeyUsage clientAuth) signed by `ca`, like docker-machine's cert.pem. */
export async function issueClientCertificate(
  ca: CertificateAuthority,
  args: ClientCertificateArgs,
): Promise<CertificateAndKey> {
  const where = "issueClientCertificate";
  return issueLeafCertificate(ca, {
    commonName: requireCommonName(args.commonName, where),
    validityDays: requireValidityDays(args.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS, where),
    extendedKeyUsages: [x509.ExtendedKeyUsage.clientAuth],
    extraExtensions: [],
  });
}

/** One certificate a CA revokes: its serial (hex) and when it was revoked. */
export interface RevokedCertificate {
  serialNumber: string;
  revokedAt: Date;
}

/**
 * A CRL signed by `ca` listing `revoked` (PEM, "X509 CRL"), valid until `nextUpdate`. etcd reads
 * its `--client-crl-file` and `--peer-crl-file` on every handshake, so a new list needs no restart.
 */
export async function createRevocationList(
  ca: CertificateAuthority,
  revoked: readonly RevokedCertificate[],
  nextUpdate: Date,
): Promise<string> {
  const caCert = parseCaCertificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(Date.now() - CLOCK_SKEW_MS),
    nextUpdate,
    signingKey: await importPrivateKeyPem(ca.keyPem),
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey)],
    entries: revoked.map((entry) => ({
      serialNumber: entry.serialNumber,
      revocationDate: entry.revokedAt,
      reason: x509.X509CrlReason.cessationOfOperation,
    })),
  });
  // "X509 CRL", the label OpenSSL and Go's x509.ParseCRL (etcd) look for.
  return x509.PemConverter.encode(crl.rawData, "X509 CRL") + "\n";
}

interface LeafCertificatePlan {
  commonName: string;
  validityDays: number;
  extendedKeyUsages: string[];
  extraExtensions: x509.Extension[];
}

async function issueLeafCertificate(
  ca: CertificateAuthority,
  plan: LeafCertificatePlan,
): Promise<CertificateAndKey> {
  const caCert = parseCaCertificate(ca.certPem);
  const caKey = await importPrivateKeyPem(ca.keyPem);
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(plan.validityDays);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: distinguishedName(plan.commonName),
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDSA keys sign (digitalSignature) and take part in ECDHE (keyAgreement).
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(plan.extendedKeyUsages, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      ...plan.extraExtensions,
    ],
  });
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
}

function parseCaCertificate(certPem: string): x509.X509Certificate {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (error) {
    throw new Error(
      `CA certificate: cannot parse ca.certPem as a PEM certificate (${String(error)}); ` +
        `pass the certPem returned by createCertificateAuthority.`,
    );
  }
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new Error(
      `CA certificate "${cert.subject}" is not a CA (no basicConstraints CA:TRUE); ` +
        `pass the certPem returned by createCertificateAuthority.`,
    );
  }
  return cert;
}

async function importPrivateKeyPem(keyPem: string): Promise<webcrypto.CryptoKey> {
  try {
    const der = x509.PemConverter.decodeFirst(keyPem);
    return await crypto.subtle.importKey("pkcs8", der, ECDSA_P256, false, ["sign"]);
  } catch (error) {
    throw new Error(
      `CA key: cannot import ca.keyPem as an ECDSA P-256 PKCS#8 key (${String(error)}); ` +
        `pass the keyPem returned by createCertificateAuthority.`,
    );
  }
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
}

async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

/** 16 random bytes, top bit cleared so the DER INTEGER stays positive (RFC 5280 4.1.2.2). */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return bytes.toString("hex");
}

function distinguishedName(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }];
}

function validityWindow(validityDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + Math.round(validityDays * DAY_MS)),
  };
}

function requireCommonName(commonName: string, where: string): string {
  if (typeof commonName !== "string" || commonName.trim() === "") {
    throw new Error(
      `${where}: commonName is ${JSON.stringify(commonName)}; give a non-empty name such as the host name.`,
    );
  }
  return commonName;
}

/** One minute: a shorter certificate could expire before Docker has restarted with it. */
const MIN_VALIDITY_DAYS = 1 / 1440;

function requireValidityDays(validityDays: number, where: string): number {
  if (!Number.isFinite(validityDays) || validityDays < MIN_VALIDITY_DAYS) {
    throw new Error(
      `${where}: validityDays is ${JSON.stringify(validityDays)}; give a number of days, at least ` +
        `one minute (1/1440; fractions are for tests).`,
    );
  }
  return validityDays;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
