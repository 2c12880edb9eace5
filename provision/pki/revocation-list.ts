import * as pulumi from "@pulumi/pulumi";
import { createStepLog } from "../dynamic/log";
import { DynamicResource, type ResourceArgs } from "../dynamic/resource";
import { inspectCertificate } from "./inspect";

/** A certificate a CA issued that is in use: what the revocation list keeps track of. */
export interface IssuedCertificate {
  /** Hex, as Certificate.serialNumber gives it. */
  serialNumber: string;
  /** ISO 8601, as Certificate.notAfter gives it. */
  notAfter: string;
  /** What it is for ("host-2 etcd peer"): shown when it is revoked. */
  subject: string;
}

/** A certificate no longer in use, revoked until it expires. */
export interface RevokedEntry extends IssuedCertificate {
  /** ISO 8601. */
  revokedAt: string;
}

interface RevocationListInputs {
  caCertPem: string;
  caKeyPem: string;
  issued: IssuedCertificate[];
}

interface RevocationListOutputs extends Omit<RevocationListInputs, "caKeyPem"> {
  revoked: RevokedEntry[];
  crlPem: string;
}

/**
 * Pure: what the list revokes once the certificates in use are `issued`: what it revoked before,
 * and every certificate that was in use (`before`) and no longer is, a removed host's or a
 * replaced one's. An entry is dropped once its certificate has expired: it opens nothing then.
 */
export function planRevocations(
  before: Pick<RevocationListOutputs, "issued" | "revoked"> | undefined,
  issued: readonly IssuedCertificate[],
  now: Date,
): RevokedEntry[] {
  const inUse = new Set(issued.map((certificate) => certificate.serialNumber));
  const retired = (before?.issued ?? [])
    .filter((certificate) => !inUse.has(certificate.serialNumber))
    .map((certificate) => ({ ...certificate, revokedAt: now.toISOString() }));
  const seen = new Set<string>();
  return [...(before?.revoked ?? []), ...retired].filter((entry) => {
    const keep =
      !inUse.has(entry.serialNumber) &&
      !seen.has(entry.serialNumber) &&
      Date.parse(entry.notAfter) > now.getTime();
    seen.add(entry.serialNumber);
    return keep;
  });
}

const serials = (issued: readonly IssuedCertificate[]) =>
  JSON.stringify(issued.map((certificate) => certificate.serialNumber).sort());

async function sign(
  inputs: RevocationListInputs,
  revoked: RevokedEntry[],
): Promise<RevocationListOutputs> {
  const { createRevocationList } = await import("./certificates");
  const crlPem = await createRevocationList(
    { certPem: inputs.caCertPem, keyPem: inputs.caKeyPem },
    revoked.map((entry) => ({
      serialNumber: entry.serialNumber,
      revokedAt: new Date(entry.revokedAt),
    })),
    // Valid as long as the CA: the list changes only when `up` retires a certificate.
    inspectCertificate(inputs.caCertPem).notAfter,
  );
  return { caCertPem: inputs.caCertPem, issued: inputs.issued, revoked, crlPem };
}

export const revocationListProvider: pulumi.dynamic.ResourceProvider<
  RevocationListInputs,
  RevocationListOutputs
> = {
  async create(inputs) {
    const serial = inspectCertificate(inputs.caCertPem).serialNumber;
    return { id: `crl:${serial}`, outs: await sign(inputs, []) };
  },
  async diff(_id, olds, news) {
    // Another CA starts another list: the serials it revoked were the old CA's.
    if (olds.caCertPem !== news.caCertPem) return { changes: true, replaces: ["caCertPem"] };
    return { changes: serials(olds.issued) !== serials(news.issued) };
  },
  async update(_id, olds, news) {
    const revoked = planRevocations(olds, news.issued, new Date());
    const known = new Set(olds.revoked.map((entry) => entry.serialNumber));
    const log = createStepLog(
      "",
      `revocation list of ${inspectCertificate(news.caCertPem).commonName}`,
    );
    for (const entry of revoked.filter((entry) => !known.has(entry.serialNumber))) {
      log.info(`revoked ${entry.subject} (serial ${entry.serialNumber})`);
    }
    return { outs: await sign(news, revoked) };
  },
};

export interface RevocationListArgs extends Omit<
  ResourceArgs<RevocationListInputs>,
  "caCertPem" | "caKeyPem"
> {
  /** The CA that issued the certificates and signs the list. */
  ca: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
}

const revocationListSpec = {
  type: "RevocationList",
  module: __filename,
  provider: "revocationListProvider",
  secrets: ["caKeyPem"],
  outputs: ["revoked", "crlPem"],
};

/**
 * A CA's certificate revocation list (CRL): every certificate the CA issued that the stack no
 * longer uses (a removed host's, a replaced one's) is revoked until it expires, so that a key
 * left on a host that left the environment opens nothing on the hosts that remain. The services
 * that check client certificates read it (etcd's `--client-crl-file` and `--peer-crl-file`).
 */
export class RevocationList extends DynamicResource {
  declare readonly crlPem: pulumi.Output<string>;
  declare readonly revoked: pulumi.Output<RevokedEntry[]>;

  constructor(name: string, args: RevocationListArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      revocationListSpec,
      name,
      { caCertPem: args.ca.certPem, caKeyPem: args.ca.keyPem, issued: args.issued },
      opts,
    );
  }
}
