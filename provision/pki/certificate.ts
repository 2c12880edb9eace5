import * as pulumi from "@pulumi/pulumi";
import { DynamicResource } from "../dynamic/resource";
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
} from "./index";

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
}

interface CertificateOutputs extends Omit<CertificateInputs, "caKeyPem"> {
  certPem: string;
  keyPem: string;
}

/** Every input but the CA key decides the certificate's content, so any change issues a new one. */
const IDENTITY_KEYS = [
  "kind",
  "commonName",
  "ipAddresses",
  "dnsNames",
  "validityDays",
  "usage",
  "caCertPem",
] as const;

/** The usage a server certificate was issued with: "server" when its state predates the input. */
function withDefaultUsage(inputs: CertificateInputs): CertificateInputs {
  return inputs.kind === "server" ? { ...inputs, usage: inputs.usage ?? "server" } : inputs;
}

export const certificateProvider: pulumi.dynamic.ResourceProvider<
  CertificateInputs,
  CertificateOutputs
> = {
  async create(inputs) {
    const issued =
      inputs.kind === "ca"
        ? await createCertificateAuthority({
            commonName: inputs.commonName,
            validityDays: inputs.validityDays,
          })
        : await issueSigned(inputs);
    const { caKeyPem: _omitted, ...kept } = inputs;
    return {
      id: `${inputs.kind}:${inputs.commonName}`,
      outs: { ...kept, certPem: issued.certPem, keyPem: issued.keyPem },
    };
  },
  async diff(_id, olds, news) {
    const [before, after] = [withDefaultUsage(olds), withDefaultUsage(news)];
    const replaces = IDENTITY_KEYS.filter(
      (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
    );
    return { changes: replaces.length > 0, replaces: [...replaces] };
  },
};

async function issueSigned(inputs: CertificateInputs) {
  if (inputs.caCertPem === undefined || inputs.caKeyPem === undefined) {
    throw new Error(`certificate ${inputs.commonName}: a ${inputs.kind} certificate needs a CA`);
  }
  const ca = { certPem: inputs.caCertPem, keyPem: inputs.caKeyPem };
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
 * certs. The private key is a Pulumi secret; a new one is issued only when its content changes.
 * Throws when `usage` is given for a CA or client certificate.
 */
export class Certificate extends DynamicResource {
  declare readonly certPem: pulumi.Output<string>;
  declare readonly keyPem: pulumi.Output<string>;

  constructor(name: string, args: CertificateArgs, opts?: pulumi.CustomResourceOptions) {
    if (args.usage !== undefined && args.kind !== "server") {
      throw new Error(
        `certificate ${name}: usage ${JSON.stringify(args.usage)} applies to server certificates only, not to kind "${args.kind}"; leave usage out`,
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
        validityDays: args.validityDays ?? (args.kind === "ca" ? 3650 : 825),
        usage: args.kind === "server" ? (args.usage ?? "server") : undefined,
        caCertPem: args.ca?.certPem,
        caKeyPem: args.ca?.keyPem,
      },
      opts,
    );
  }
}
