import { z } from "zod";

/**
 * Field schemas that several components' stack config uses (components/<component>/config.ts), so
 * that host names and URLs are checked, and their errors worded, alike under every key.
 */

/** A host's name where the config gives one (sshHosts, namePrefix) or names one (etcd, swarm, registry). */
export const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/, {
  message: "must be a host name: 2-32 characters of a-z, 0-9 and '-', starting with a letter",
});

/** An http(s) URL; `example` is the one the error message suggests for this key. */
export function httpUrl(example: string) {
  return z.string().refine((value) => /^https?:\/\/[^\s/]+/.test(value) && URL.canParse(value), {
    message: `must be an http(s) URL, e.g. "${example}"`,
  });
}
