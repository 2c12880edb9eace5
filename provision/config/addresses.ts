import { isIP } from "node:net";

/**
 * What a host's address may be: an IP address or a DNS name. Pure, no I/O: nothing is resolved
 * here. Certificates (provision/pki/subject-alt-names.ts) and config checks both ask.
 */

/** Pure: whether `value` is an IPv4 or IPv6 address (without brackets or a port). */
export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** One DNS label: letters, digits and inner '-', at most 63 characters (RFC 1123). */
const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Pure: whether `value` is a DNS name a certificate can carry and a resolver looks up as a name:
 * dot-separated labels, at most 253 characters, no trailing dot, and a last label that is not all
 * digits (resolvers read "10.0.0" or "10.0.0.256" as an IPv4 address, or refuse it).
 */
export function isDnsName(value: string): boolean {
  const labels = value.split(".");
  return (
    value.length <= 253 &&
    labels.every((label) => DNS_LABEL.test(label)) &&
    !/^\d+$/.test(labels[labels.length - 1])
  );
}
