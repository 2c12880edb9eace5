import { z } from "zod";
import { resolveConfig } from "../config/errors";
import { DURATION_PATTERN, durationDays, durationSeconds } from "./renewal";

/**
 * The `dockfleet:certificates` settings: how long the certificates dockfleet issues for the
 * hosts' services and clients last, and how early `up` issues them again. The stack schema wires
 * it in; DockerEngine, EtcdCluster, PrivateRegistry and Environment take the same object as their
 * `certificates` argument. Named after cert-manager's `duration` and `renewBefore`.
 */

const duration = z.string().refine((value) => DURATION_PATTERN.test(value), {
  message: 'must be a duration like "30d", "12h", "90m" or "45s" (a whole number and one unit)',
});

/** Leaf certificates may not outlive the CA that signs them (3650 days). */
const MAX_DURATION_SECONDS = 3650 * 86_400;

export const CertificatesConfigSchema = z
  .strictObject({
    duration: duration
      .default("825d")
      .describe(
        "How long a server or client certificate is valid when issued. Minutes are for tests " +
          'only (e.g. "3m" with renewBefore "2m"): every `up` past the window restarts Docker.',
      ),
    renewBefore: duration
      .default("30d")
      .describe(
        "`up` issues a certificate again (same CA, new key) once it is this close to expiry, " +
          "and restarts only what uses it. `dockfleet regenerate-certs` does it at once.",
      ),
  })
  .superRefine((config, ctx) => {
    const lifetime = durationSeconds(config.duration);
    const window = durationSeconds(config.renewBefore);
    if (lifetime === undefined || window === undefined) return;
    if (lifetime < 60) {
      ctx.addIssue({ code: "custom", path: ["duration"], message: "must be at least 1m" });
    } else if (lifetime > MAX_DURATION_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["duration"],
        message: "must be at most 3650d (the CA's lifetime)",
      });
    }
    if (window >= lifetime) {
      ctx.addIssue({
        code: "custom",
        path: ["renewBefore"],
        message: `must be shorter than certificates.duration (${config.duration}): otherwise every up issues the certificates again`,
      });
    }
  });

export type CertificatesConfig = z.infer<typeof CertificatesConfigSchema>;
/** The settings as written, before defaults (a component's `certificates` argument). */
export type CertificatesConfigInput = z.input<typeof CertificatesConfigSchema>;

/**
 * Applies every default and check (the same schema as `dockfleet:certificates`). Pure; throws a
 * ConfigError naming each bad key under `keyPrefix`, its value and what is allowed.
 */
export function resolveCertificatesConfig(
  input: CertificatesConfigInput = {},
  keyPrefix = "dockfleet:certificates",
): CertificatesConfig {
  return resolveConfig(CertificatesConfigSchema, input, keyPrefix, "certificates config");
}

/** Pure: the Certificate arguments for resolved settings (days, fractions for short ones). */
export function certificateLifetime(config: CertificatesConfig): {
  validityDays: number;
  renewBeforeDays: number;
} {
  return {
    validityDays: durationDays(config.duration),
    renewBeforeDays: durationDays(config.renewBefore),
  };
}
