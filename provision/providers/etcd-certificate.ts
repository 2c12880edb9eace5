import * as pulumi from "@pulumi/pulumi";
import { loadedProvider } from "./provider-shim";
import { issueServerCertificate } from "../pki";

interface EtcdPeerCertificateInputs {
  commonName: string;
  ipAddresses: string[];
  dnsNames: string[];
  validityDays: number;
  caCertPem: string;
  caKeyPem: string;
}

interface EtcdPeerCertificateOutputs extends Omit<EtcdPeerCertificateInputs, "caKeyPem"> {
  certPem: string;
  keyPem: string;
}

/** Every input but the CA key decides the certificate's content: a change issues a new one. */
const IDENTITY_KEYS = [
  "commonName",
  "ipAddresses",
  "dnsNames",
  "validityDays",
  "caCertPem",
] as const;

export const etcdPeerCertificateProvider: pulumi.dynamic.ResourceProvider<
  EtcdPeerCertificateInputs,
  EtcdPeerCertificateOutputs
> = {
  async create(inputs) {
    const issued = await issueServerCertificate(
      { certPem: inputs.caCertPem, keyPem: inputs.caKeyPem },
      {
        commonName: inputs.commonName,
        ipAddresses: inputs.ipAddresses,
        dnsNames: inputs.dnsNames,
        validityDays: inputs.validityDays,
        usage: "server-and-client",
      },
    );
    const { caKeyPem: _omitted, ...kept } = inputs;
    return {
      id: `etcd-peer:${inputs.commonName}`,
      outs: { ...kept, certPem: issued.certPem, keyPem: issued.keyPem },
    };
  },
  async diff(_id, olds, news) {
    const replaces = IDENTITY_KEYS.filter(
      (key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]),
    );
    return { changes: replaces.length > 0, replaces: [...replaces] };
  },
};

export interface EtcdPeerCertificateArgs {
  /** The member's name. */
  commonName: pulumi.Input<string>;
  /** The member's addresses: private (peers), public (clients); 127.0.0.1 is always added. */
  ipAddresses: pulumi.Input<pulumi.Input<string>[]>;
  dnsNames?: pulumi.Input<pulumi.Input<string>[]>;
  /** @default 825 */
  validityDays?: number;
  ca: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
}

/**
 * An etcd member's certificate from dockfleet's CA, for both its listeners and its own calls to
 * peers: extKeyUsage serverAuth and clientAuth, as etcd's peer TLS with client-cert-auth needs.
 * The key is a Pulumi secret.
 */
export class EtcdPeerCertificate extends pulumi.dynamic.Resource {
  declare readonly certPem: pulumi.Output<string>;
  declare readonly keyPem: pulumi.Output<string>;

  constructor(name: string, args: EtcdPeerCertificateArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      loadedProvider(__filename, "etcdPeerCertificateProvider"),
      name,
      {
        commonName: args.commonName,
        ipAddresses: args.ipAddresses,
        dnsNames: args.dnsNames ?? [],
        validityDays: args.validityDays ?? 825,
        caCertPem: args.ca.certPem,
        caKeyPem: pulumi.secret(args.ca.keyPem),
        certPem: undefined,
        keyPem: undefined,
      },
      { ...opts, additionalSecretOutputs: ["keyPem"] },
      "dockfleet",
      "EtcdPeerCertificate",
    );
  }
}
