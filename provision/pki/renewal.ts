/**
 * When a certificate must be issued again: pure decisions, no key material, no clock of their own
 * (the caller passes `now`), so that unit tests can state them exactly.
 */

export const DAY_MS = 24 * 60 * 60 * 1000;

/** The renewal window when none is configured: like cert-manager's default for 90-day certificates. */
export const DEFAULT_RENEW_BEFORE_DAYS = 30;

/**
 * True when a certificate valid until `notAfter` is within `renewBeforeDays` of expiry at `now`
 * (or already expired), so that `up` must issue it again. The window's start itself counts as
 * inside it.
 */
export function renewalDue(now: Date, notAfter: Date, renewBeforeDays: number): boolean {
  return now.getTime() >= notAfter.getTime() - renewBeforeDays * DAY_MS;
}

/** The names a certificate is issued for: its subject and its subject alternative names. */
export interface CertificateNames {
  commonName: string;
  ipAddresses: string[];
  dnsNames: string[];
}

/**
 * True when the names a certificate was issued for differ from the names asked for now. SANs are
 * compared as sets (order and duplicates do not matter); `implied` names, which issuance adds to
 * every server certificate (127.0.0.1, localhost), count as asked for.
 */
export function namesChanged(
  issued: CertificateNames,
  wanted: CertificateNames,
  implied: { ipAddresses: string[]; dnsNames: string[] } = { ipAddresses: [], dnsNames: [] },
): boolean {
  const sameSet = (a: string[], b: string[]) => {
    const [left, right] = [new Set(a), new Set(b)];
    return left.size === right.size && [...left].every((value) => right.has(value));
  };
  return (
    issued.commonName !== wanted.commonName ||
    !sameSet(
      issued.ipAddresses.map(canonicalIp),
      [...wanted.ipAddresses, ...implied.ipAddresses].map(canonicalIp),
    ) ||
    !sameSet(
      issued.dnsNames.map((name) => name.toLowerCase()),
      [...wanted.dnsNames, ...implied.dnsNames].map((name) => name.toLowerCase()),
    )
  );
}

/**
 * An address as one spelling: IPv6 compressed and in lower case ("2001:0DB8::0001" and
 * "2001:db8::1" are one address), IPv4 and anything else as given.
 */
export function canonicalIp(address: string): string {
  if (!address.includes(":")) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

/** A duration as the config writes it: a whole number and one unit, "30d", "12h", "90m", "45s". */
export const DURATION_PATTERN = /^([1-9]\d{0,6})([dhms])$/;

const UNIT_SECONDS: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };

/** Pure: seconds in a duration matching DURATION_PATTERN; undefined when it does not match. */
export function durationSeconds(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text);
  return match === null ? undefined : Number(match[1]) * UNIT_SECONDS[match[2]];
}

/** Pure: a duration in days, the unit certificates are issued in (fractions for shorter ones). */
export function durationDays(text: string): number {
  const seconds = durationSeconds(text);
  if (seconds === undefined) {
    throw new Error(`${JSON.stringify(text)} is not a duration like "30d", "12h", "90m" or "45s"`);
  }
  return seconds / 86_400;
}
