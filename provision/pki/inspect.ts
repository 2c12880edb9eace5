import { X509Certificate } from "node:crypto";

/** What `dockfleet ls` and the renewal decision read from an issued certificate. */
export interface CertificateFacts {
  /** Hex, lower case, as `openssl x509 -serial` prints it (without leading zeros). */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  commonName: string;
  ipAddresses: string[];
  dnsNames: string[];
}

/**
 * Pure: the serial, validity and names of a PEM certificate. Throws when it is not one.
 *
 * Node's own X509Certificate (OpenSSL) reads it: every `up` reads each certificate in the
 * program and in the provider, and the X.509 library that issues them (certificates.ts) costs
 * about 0.15 CPU-s to load and as much again to parse a handful of certificates.
 */
export function inspectCertificate(certPem: string): CertificateFacts {
  const cert = new X509Certificate(certPem);
  const names = (cert.subjectAltName ?? "").split(", ").filter((name) => name !== "");
  const valuesOf = (prefix: string) =>
    names.filter((name) => name.startsWith(prefix)).map((name) => name.slice(prefix.length));
  return {
    serialNumber: cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ""),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    commonName:
      cert.subject
        .split("\n")
        .find((field) => field.startsWith("CN="))
        ?.slice("CN=".length) ?? "",
    ipAddresses: valuesOf("IP Address:").map(canonicalAddress),
    dnsNames: valuesOf("DNS:"),
  };
}

/** OpenSSL prints IPv6 addresses in full ("FD00:0:0:0:0:0:0:1"); the URL parser gives RFC 5952's form. */
function canonicalAddress(address: string): string {
  return address.includes(":") ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}
