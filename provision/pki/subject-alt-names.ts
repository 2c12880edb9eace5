import { isIpAddress } from "../config/addresses";

/**
 * A host is reached at an IP address or at a DNS name, and a server certificate must name it the
 * same way: an IP address as an IP SAN, a name as a DNS SAN (a client checking "web-1.example.com"
 * never matches an IP SAN, nor the other way round). Pure, no I/O: nothing is resolved here.
 */

/**
 * Pure: a server certificate's SANs for the addresses and names a host is reached at: IP addresses
 * become IP SANs, everything else DNS SANs; each once, in the order given.
 */
export function splitSubjectAltNames(addressesAndNames: readonly string[]): {
  ipAddresses: string[];
  dnsNames: string[];
} {
  const unique = [...new Set(addressesAndNames)];
  return {
    ipAddresses: unique.filter(isIpAddress),
    dnsNames: unique.filter((value) => !isIpAddress(value)),
  };
}
