import * as pulumi from "@pulumi/pulumi";
import { createStepLog } from "../dynamic/log";
import { DynamicResource } from "../dynamic/resource";
import { inspectCertificate } from "./inspect";
import type { IssuedCertificate } from "./revocation-list";
import { DEFAULT_RENEW_BEFORE_DAYS, namesChanged, renewalDue } from "./renewal";

/** What a certificate is for; the CA signs the other two. */
export type CertificateKind = "ca" | "server" | "client";

/** The extended key usage of a server certificate (see `ServerCertificateArgs.usage`). */
export type ServerCertificateUsage = "server" | "server-and-client";

interface CertificateInputs {
  kind: CertificateKind;
  commonName: string;
  ipAddresses: string[];
  dnsNames: string[];
  validityDays: number;
  /** Server certificates only; absent in the state of those issued before it existed: "server". */
  usage?: ServerCertificateUsage;
  caCertPem?: string;
  caKeyPem?: string;
  /**
   * Issue it again once it is this many days from expiry (fractions allowed). Unset: never (a CA
   * unless asked). Only diff reads it: a change of the window alone issues nothing.
   */
  renewBeforeDays?: number;
  /** The host whose service uses it, for `dockfleet regenerate-certs <host>`. Not in the certificate. */
  host?: string;
}

interface CertificateOutputs extends Omit<CertificateInputs, "caKeyPem"> {
  certPem: string;
  keyPem: string;
}

/**
 * Inputs that decide the certificate's content besides its names: a change issues a new one
 * (a replacement, as before). The names are compared with the issued certificate itself.
 */
const CONTENT_KEYS = ["kind", "validityDays", "usage", "caCertPem"] as const;
const NAME_KEYS = ["commonName", "ipAddresses", "dnsNames"] as const;

/** The usage a server certificate was issued with: "server" when its state predates the input. */
function withDefaultUsage<T extends Pick<CertificateInputs, "kind" | "usage">>(inputs: T): T {
  return inputs.kind === "server" ? { ...inputs, usage: inputs.usage ?? "server" } : inputs;
}

/** What `up` does with a certificate, and why (the reason goes to Pulumi's log). */
export interface CertificateChange {
  changes: boolean;
  /** Inputs whose change issues a replacement (preview shows "replace" naming them). */
  replaces: string[];
  /** Why an in-place reissue is due (the renewal window): update issues it again. */
  renew?: string;
}

/**
 * Pure: how the certificate issued as `olds` (its state) compares with what `news` asks for at
 * `now`. Another kind, validity, usage or CA, or other names than the issued certificate holds
 * (SANs as sets, 127.0.0.1 and localhost implied), replace it; otherwise, once it is within
 * `news.renewBeforeDays` of expiry, it is issued again in place.
 */
export function planCertificateChange(
  olds: CertificateOutputs,
  news: CertificateInputs,
  now: Date,
): CertificateChange {
  const [before, after] = [withDefaultUsage(olds), withDefaultUsage(news)];
  const replaces: string[] = CONTENT_KEYS.filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
  let issued;
  try {
    issued = inspectCertificate(olds.certPem);
  } catch {
    return { changes: true, replaces: [...replaces, "certPem"] };
  }
  const implied =
    news.kind === "server"
      ? { ipAddresses: ["127.0.0.1"], dnsNames: ["localhost"] }
      : { ipAddresses: [], dnsNames: [] };
  // A CA and a client certificate carry no SANs: only the subject counts.
  const wanted = {
    commonName: news.commonName,
    ipAddresses: news.kind === "server" ? news.ipAddresses : [],
    dnsNames: news.kind === "server" ? news.dnsNames : [],
  };
  if (namesChanged(issued, wanted, implied)) {
    const differing = NAME_KEYS.filter(
      (key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]),
    );
    replaces.push(...(differing.length > 0 ? differing : ["commonName"]));
  }
  if (replaces.length > 0) return { changes: true, replaces };
  if (
    news.renewBeforeDays !== undefined &&
    renewalDue(now, issued.notAfter, news.renewBeforeDays)
  ) {
    return {
      changes: true,
      replaces: [],
      renew: `expires ${issued.notAfter.toISOString()}, within the renewal window of ${news.renewBeforeDays} day(s)`,
    };
  }
  return { changes: false, replaces: [] };
}

/**
 * The X.509 library only when a certificate is issued: a no-change `up` loads this module in the
 * program and in the provider, and the library costs about 0.15 CPU-s to load in each.
 */
const loadIssuer = () => import("./certificates");

async function issue(inputs: CertificateInputs): Promise<CertificateOutputs> {
  const { createCertificateAuthority } = await loadIssuer();
  const issued =
    inputs.kind === "ca"
      ? await createCertificateAuthority({
          commonName: inputs.commonName,
          validityDays: inputs.validityDays,
        })
      : await issueSigned(inputs);
  const { caKeyPem: _omitted, ...kept } = inputs;
  return { ...kept, certPem: issued.certPem, keyPem: issued.keyPem };
}

export const certificateProvider: pulumi.dynamic.ResourceProvider<
  CertificateInputs,
  CertificateOutputs
> = {
  async create(inputs) {
    return { id: `${inputs.kind}:${inputs.commonName}`, outs: await issue(inputs) };
  },
  async diff(_id, olds, news) {
    const { changes, replaces } = planCertificateChange(olds, news, new Date());
    return { changes, replaces };
  },
  // Only a due renewal updates (every other change replaces): the same CA issues it again, with
  // a new key; whatever takes certPem and keyPem as inputs (DockerConfig, EtcdMember,
  // RegistryServer) sees new values and installs them, restarting only its own service.
  async update(_id, olds, news) {
    const outs = await issue(news);
    const until = (pem: string) => inspectCertificate(pem).notAfter.toISOString();
    createStepLog("", `${news.kind} certificate ${news.commonName}`).info(
      `renewed: valid until ${until(outs.certPem)} (was until ${until(olds.certPem)})`,
    );
    return { outs };
  },
};

async function issueSigned(inputs: CertificateInputs) {
  if (inputs.caCertPem === undefined || inputs.caKeyPem === undefined) {
    throw new Error(`certificate ${inputs.commonName}: a ${inputs.kind} certificate needs a CA`);
  }
  const ca = { certPem: inputs.caCertPem, keyPem: inputs.caKeyPem };
  const { issueClientCertificate, issueServerCertificate } = await loadIssuer();
  return inputs.kind === "server"
    ? issueServerCertificate(ca, {
        commonName: inputs.commonName,
        ipAddresses: inputs.ipAddresses,
        dnsNames: inputs.dnsNames,
        validityDays: inputs.validityDays,
        usage: inputs.usage,
      })
    : issueClientCertificate(ca, {
        commonName: inputs.commonName,
        validityDays: inputs.validityDays,
      });
}

export interface CertificateArgs {
  kind: CertificateKind;
  commonName: pulumi.Input<string>;
  /** Subject alternative names (server certificates); 127.0.0.1 and localhost are always added. */
  ipAddresses?: pulumi.Input<pulumi.Input<string>[]>;
  dnsNames?: pulumi.Input<pulumi.Input<string>[]>;
  /** @default 3650 for a CA, 825 otherwise */
  validityDays?: number;
  /**
   * Server certificates only: "server" gives extKeyUsage serverAuth; "server-and-client" adds
   * clientAuth, for a peer that also calls its peers (an etcd member). A change issues a new one.
   * @default "server"
   */
  usage?: ServerCertificateUsage;
  /** The signing CA (not for kind "ca"). */
  ca?: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
  /**
   * `up` issues the certificate again (same CA, new key) once it is this many days from expiry;
   * fractions of a day are allowed. Changing it alone issues nothing.
   * @default 30 for server and client certificates (a third of validityDays when that is shorter
   * than 90); a CA is never renewed unless this is given
   */
  renewBeforeDays?: number;
  /** The host whose service uses the certificate: `dockfleet regenerate-certs <host>` finds it so. */
  host?: string;
}

/** 30 days, or a third of a shorter lifetime (cert-manager renews at two thirds). */
function defaultRenewBeforeDays(validityDays: number): number {
  return Math.min(DEFAULT_RENEW_BEFORE_DAYS, validityDays / 3);
}

const certificateSpec = {
  type: "Certificate",
  module: __filename,
  provider: "certificateProvider",
  secrets: ["caKeyPem", "keyPem"],
  outputs: ["certPem", "keyPem"],
};

/**
 * A CA, server or client certificate made by dockfleet (ECDSA P-256), like docker-machine's
 * certs. The private key is a Pulumi secret; a new one is issued when its content or names change,
 * and by `up` once it is within `renewBeforeDays` of expiry (see planCertificateChange). Throws
 * when `usage` is given for a CA or client certificate, or renewBeforeDays is not below validityDays.
 */
export class Certificate extends DynamicResource {
  declare readonly certPem: pulumi.Output<string>;
  declare readonly keyPem: pulumi.Output<string>;

  /** When it expires (ISO 8601), read from certPem: state written before this existed has it too. */
  get notAfter(): pulumi.Output<string> {
    return this.certPem.apply((pem) => inspectCertificate(pem).notAfter.toISOString());
  }

  /** Its serial number (hex), read from certPem. */
  get serialNumber(): pulumi.Output<string> {
    return this.certPem.apply((pem) => inspectCertificate(pem).serialNumber);
  }

  /** What a RevocationList keeps of it while it is in use: serial, expiry and common name. */
  get issued(): pulumi.Output<IssuedCertificate> {
    return this.certPem.apply((pem) => {
      const facts = inspectCertificate(pem);
      return {
        serialNumber: facts.serialNumber,
        notAfter: facts.notAfter.toISOString(),
        subject: facts.commonName,
      };
    });
  }

  constructor(name: string, args: CertificateArgs, opts?: pulumi.CustomResourceOptions) {
    if (args.usage !== undefined && args.kind !== "server") {
      throw new Error(
        `certificate ${name}: usage ${JSON.stringify(args.usage)} applies to server certificates only, not to kind "${args.kind}"; leave usage out`,
      );
    }
    const validityDays = args.validityDays ?? (args.kind === "ca" ? 3650 : 825);
    if (
      args.renewBeforeDays !== undefined &&
      !(args.renewBeforeDays > 0 && args.renewBeforeDays < validityDays)
    ) {
      throw new Error(
        `certificate ${name}: renewBeforeDays ${JSON.stringify(args.renewBeforeDays)} must be above 0 and below validityDays (${validityDays}): otherwise every up would issue it again`,
      );
    }
    super(
      certificateSpec,
      name,
      {
        kind: args.kind,
        commonName: args.commonName,
        ipAddresses: args.ipAddresses ?? [],
        dnsNames: args.dnsNames ?? [],
        validityDays,
        usage: args.kind === "server" ? (args.usage ?? "server") : undefined,
        caCertPem: args.ca?.certPem,
        caKeyPem: args.ca?.keyPem,
        renewBeforeDays:
          args.renewBeforeDays ??
          (args.kind === "ca" ? undefined : defaultRenewBeforeDays(validityDays)),
        host: args.host,
      },
      opts,
    );
  }
}
