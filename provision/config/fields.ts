import { isIPv4 } from "node:net";
import { z } from "zod";
import { isDnsName, isIpAddress } from "./addresses";

/**
 * Field schemas that several components' stack config uses (components/<component>/config.ts), so
 * that host names, URLs, paths, addresses and CIDRs are checked, and their errors worded, alike
 * under every key.
 */

/** A host's name where the config gives one (sshHosts, namePrefix) or names one (etcd, swarm, registry). */
export const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, {
  message: "must be a host name: 2-32 characters of a-z, 0-9 and '-', starting with a letter",
});

/**
 * An http(s) URL; `example` is the one the error message suggests for this key. Credentials in
 * it would be written in clear into files on every host (daemon.json, apt sources), and a query
 * string breaks the paths appended to a base URL, so both are refused.
 */
export function httpUrl(example: string) {
  return z.string().superRefine((value, ctx) => {
    if (!/^https?:\/\/[^\s/]+/.test(value) || !URL.canParse(value)) {
      ctx.addIssue({ code: "custom", message: `must be an http(s) URL, e.g. "${example}"` });
      return;
    }
    const url = new URL(value);
    if (url.username !== "" || url.password !== "") {
      ctx.addIssue({
        code: "custom",
        message:
          "must not carry credentials (user:password@): they would be written in clear on " +
          `every host; e.g. "${example}"`,
      });
    }
    if (url.search !== "" || url.hash !== "" || /[?#]/.test(value)) {
      ctx.addIssue({
        code: "custom",
        message: `must not carry a query string or fragment ("?", "#"): give the base URL, e.g. "${example}"`,
      });
    }
  });
}

/** Pure: an IPv4 CIDR's network address (as a 32-bit number) and prefix, or undefined. */
export function parseIpv4Cidr(value: string): { base: number; prefix: number } | undefined {
  const [address, bits, ...rest] = value.split("/");
  if (rest.length > 0 || !isIPv4(address) || bits === undefined || !/^\d{1,2}$/.test(bits)) {
    return undefined;
  }
  const prefix = Number(bits);
  if (prefix > 32) return undefined;
  const base = address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
  return { base, prefix };
}

/** Pure: whether CIDR `inner` lies wholly inside CIDR `outer`. */
export function cidrContains(outer: string, inner: string): boolean {
  const a = parseIpv4Cidr(outer);
  const b = parseIpv4Cidr(inner);
  if (a === undefined || b === undefined || b.prefix < a.prefix) return false;
  const size = 2 ** (32 - a.prefix);
  return Math.floor(b.base / size) === Math.floor(a.base / size);
}

/** Pure: whether two CIDRs share any address (one then lies inside the other). */
export function cidrsOverlap(a: string, b: string): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Pure: whether a CIDR has bits set after its prefix (10.0.0.5/24 instead of 10.0.0.0/24). */
export function cidrHasHostBits(value: string): boolean {
  const cidr = parseIpv4Cidr(value);
  return cidr !== undefined && cidr.base % 2 ** (32 - cidr.prefix) !== 0;
}

/** The message for a CIDR given by one of its addresses rather than its network address. */
export const CIDR_HOST_BITS_MESSAGE =
  "has bits set after the prefix: give the network address (e.g. 10.0.0.5/24 is 10.0.0.0/24)";

/**
 * An IPv4 network given by its network address, with a prefix from `minPrefix` to `maxPrefix`;
 * `example` is the one the error message suggests.
 */
export function ipv4Network(minPrefix: number, maxPrefix: number, example: string) {
  return z.string().superRefine((value, ctx) => {
    const cidr = parseIpv4Cidr(value);
    if (cidr === undefined || cidr.prefix < minPrefix || cidr.prefix > maxPrefix) {
      ctx.addIssue({
        code: "custom",
        message: `must be an IPv4 CIDR with a prefix from /${minPrefix} to /${maxPrefix}, e.g. "${example}"`,
      });
    } else if (cidrHasHostBits(value)) {
      ctx.addIssue({ code: "custom", message: CIDR_HOST_BITS_MESSAGE });
    }
  });
}

/**
 * Docker's default address pools (moby libnetwork/ipamutils): the default bridge takes
 * 172.17.0.0/16, and local networks (docker_gwbridge among them) get the next /16 of
 * 172.17-31.0.0/16, then /20s of 192.168.0.0/16. An overlay subnet there collides with a bridge
 * on some host sooner or later.
 */
export const DOCKER_DEFAULT_LOCAL_POOLS: readonly string[] = Object.freeze([
  ...Array.from({ length: 15 }, (_, index) => `172.${17 + index}.0.0/16`),
  "192.168.0.0/16",
]);

/** Host directories that a service's data must never be, nor lie inside: the OS and Docker's own. */
const PROTECTED_TREES = [
  "/etc",
  "/usr",
  "/var/lib/docker",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
  "/boot",
  "/dev",
  "/proc",
  "/sys",
  "/run",
];

/** Directories a service's data must not be itself (they hold everything else): data goes below. */
const PROTECTED_EXACT = ["/", "/var", "/var/lib", "/home", "/root", "/opt", "/srv", "/tmp"];

/**
 * Pure: why a path is unsafe to hold (and, on destroy, delete) a service's data; undefined when
 * safe. `owner`: the protected tree that belongs to this service (Docker's data root may be
 * /var/lib/docker).
 */
export function unsafePathReason(value: string, owner?: string): string | undefined {
  const segments = value.split("/").filter((segment) => segment !== "");
  if (segments.includes("..") || segments.includes(".")) {
    return 'must not contain "." or ".." segments: give the directory itself';
  }
  const normal = `/${segments.join("/")}`;
  const tree = PROTECTED_TREES.filter((root) => root !== owner).find(
    (root) => normal === root || normal.startsWith(`${root}/`),
  );
  if (tree !== undefined) {
    return `lies in ${tree}, which belongs to the system or to Docker: choose a directory of its own, e.g. "/var/lib/dockfleet/<service>"`;
  }
  if (PROTECTED_EXACT.includes(normal)) {
    return `is ${normal} itself, which holds much else (its data is deleted with it): choose a directory of its own below it`;
  }
  return undefined;
}

/**
 * Pure: what is wrong with `value` as a host directory for a service's data, or undefined;
 * `example` is the one the message suggests, `owner` as for unsafePathReason.
 */
export function hostDataPathProblem(
  value: unknown,
  example: string,
  owner?: string,
): string | undefined {
  if (typeof value !== "string" || !/^\/[A-Za-z0-9._/-]*$/.test(value)) {
    return `must be an absolute path of letters, digits, ".", "_", "-" and "/", e.g. "${example}"`;
  }
  return unsafePathReason(value, owner);
}

/** An absolute directory on a host for a service's data: `example` is the one the error suggests. */
export function hostDataPath(example: string) {
  return z.string().superRefine((value, ctx) => {
    const problem = hostDataPathProblem(value, example);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });
}

/**
 * An address a host is reached at: an IP address or a DNS name, as certificates name it (an IPv6
 * address without brackets). Whitespace, newlines or a leading "-" would end up in ssh's and
 * Docker's arguments, and a name a certificate cannot carry would fail only once the host is
 * adopted, so anything else is refused here.
 */
export const hostAddress = z.string().refine((value) => isIpAddress(value) || isDnsName(value), {
  message:
    'must be an IP address (IPv6 without brackets) or a DNS name (letters, digits, "-" and "."), e.g. "10.0.0.5" or "web-1.example.com"',
});
