import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AwsDriverConfig } from "../config";
import { planFirewallRules } from "./firewall";
import { renderCloudConfig } from "./cloud-init";
import { machineAfterFirstContact } from "../first-contact";
import type { Machine } from "../machine";
import { type CloudMachinesArgs, cloudDriver } from "./cloud-driver";

export type AwsMachinesArgs = CloudMachinesArgs<AwsDriverConfig>;

/** What the AMI lookup asks for. */
export interface AwsImageFilter {
  owners: string[];
  nameFilter: string;
  architecture: "x86_64" | "arm64";
}

/** Publishers' own accounts: Debian's cloud team and Canonical. */
const IMAGE_PRESETS = {
  "debian-12": {
    owners: ["136693071363"],
    name: (arch: string) => `debian-12-${arch === "arm64" ? "arm64" : "amd64"}-*`,
  },
  "ubuntu-22.04": {
    owners: ["099720109477"],
    name: (arch: string) =>
      `ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-${arch === "arm64" ? "arm64" : "amd64"}-server-*`,
  },
} as const;

/** Pure: the AMI filter for an image config (a preset, with owners or name overridden). */
export function resolveAwsImageFilter(image: AwsDriverConfig["image"]): AwsImageFilter {
  const preset = IMAGE_PRESETS[image.os];
  return {
    owners: image.owners ?? [...preset.owners],
    nameFilter: image.nameFilter ?? preset.name(image.architecture),
    architecture: image.architecture,
  };
}

/** Pure: tags for one resource: the user's, then dockfleet's own (which win). */
export function awsTags(
  config: Pick<AwsDriverConfig, "tags">,
  stack: string,
  name: string,
  host?: string,
): Record<string, string> {
  return {
    ...config.tags,
    Name: `${stack}-${name}`,
    "dockfleet.io/stack": stack,
    ...(host === undefined ? {} : { "dockfleet.io/host": host }),
  };
}

/**
 * The aws driver: EC2 instances in a new VPC with one public subnet (or an existing subnet), a
 * security group that admits SSH and the Docker API from the admin networks only, a key pair from
 * the environment's key, encrypted root volumes and IMDSv2. Each host's SSH key is pinned on first
 * contact (SshHost), and the hosts are handed on as plain `Machine`s.
 */
export class AwsMachines extends pulumi.ComponentResource {
  readonly machines: Machine[];
  readonly securityGroupId: pulumi.Output<string>;
  readonly vpcId: pulumi.Output<string>;

  constructor(name: string, args: AwsMachinesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:machines:AwsMachines", name, {}, opts);
    const { config, stack } = args;
    const provider = new aws.Provider(
      `${name}-provider`,
      { region: config.region },
      { parent: this },
    );
    const child = { parent: this, provider };
    const tags = (what: string, host?: string) => awsTags(config, stack, what, host);

    // Network: the given VPC and subnet, or a new VPC with one public subnet.
    let vpcId: pulumi.Output<string>;
    let subnetId: pulumi.Output<string>;
    const networkReady: pulumi.Resource[] = [];
    if (config.vpcId !== undefined && config.subnetId !== undefined) {
      vpcId = pulumi.output(config.vpcId);
      subnetId = pulumi.output(config.subnetId);
    } else {
      const vpc = new aws.ec2.Vpc(
        `${name}-vpc`,
        {
          cidrBlock: config.vpcCidr,
          enableDnsSupport: true,
          enableDnsHostnames: true,
          tags: tags("vpc"),
        },
        child,
      );
      const gateway = new aws.ec2.InternetGateway(
        `${name}-igw`,
        { vpcId: vpc.id, tags: tags("igw") },
        child,
      );
      const subnet = new aws.ec2.Subnet(
        `${name}-subnet`,
        {
          vpcId: vpc.id,
          cidrBlock: config.subnetCidr,
          availabilityZone: config.availabilityZone,
          tags: tags("subnet"),
        },
        child,
      );
      const routes = new aws.ec2.RouteTable(
        `${name}-routes`,
        {
          vpcId: vpc.id,
          routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
          tags: tags("routes"),
        },
        child,
      );
      networkReady.push(
        new aws.ec2.RouteTableAssociation(
          `${name}-routes-subnet`,
          { subnetId: subnet.id, routeTableId: routes.id },
          child,
        ),
      );
      vpcId = vpc.id;
      subnetId = subnet.id;
    }
    this.vpcId = vpcId;

    const group = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId,
        description: `dockfleet ${stack}: SSH and Docker API from admin networks; cluster ports between members`,
        tags: tags("sg"),
      },
      child,
    );
    this.securityGroupId = group.id;
    const rules = planFirewallRules({
      adminCidrs: config.adminCidrs,
      ports: args.ports,
    }).map(
      (rule) =>
        new aws.vpc.SecurityGroupIngressRule(
          `${name}-in-${rule.key}`,
          {
            securityGroupId: group.id,
            description: rule.description,
            ipProtocol: rule.protocol,
            fromPort: rule.fromPort,
            toPort: rule.toPort,
            ...(rule.source.kind === "cidr"
              ? { cidrIpv4: rule.source.cidr }
              : { referencedSecurityGroupId: group.id }),
            tags: tags(`in-${rule.key}`),
          },
          child,
        ),
    );
    // Hosts fetch packages from the internet; a security group made by the provider has no egress.
    const egress = new aws.vpc.SecurityGroupEgressRule(
      `${name}-out-all`,
      {
        securityGroupId: group.id,
        description: "all outbound traffic (package downloads, registries)",
        ipProtocol: "-1",
        cidrIpv4: "0.0.0.0/0",
        tags: tags("out-all"),
      },
      child,
    );

    const keyPair = new aws.ec2.KeyPair(
      `${name}-key`,
      { publicKey: args.sshKey.publicKey, tags: tags("key") },
      child,
    );

    const filter = resolveAwsImageFilter(config.image);
    const imageId =
      config.image.id !== undefined
        ? pulumi.output(config.image.id)
        : aws.ec2
            .getAmiOutput(
              {
                owners: filter.owners,
                mostRecent: true,
                filters: [
                  { name: "name", values: [filter.nameFilter] },
                  { name: "architecture", values: [filter.architecture] },
                  { name: "virtualization-type", values: ["hvm"] },
                  { name: "root-device-type", values: ["ebs"] },
                ],
              },
              child,
            )
            .apply((ami) => ami.id);

    // Without a public address a host in the new public subnet could not reach any package source.
    const associatePublicIpAddress =
      config.vpcId === undefined || config.connectVia === "public" || config.elasticIps;
    const userData = renderCloudConfig({ allowRootKeyLogin: true });

    this.machines = Array.from({ length: args.count }, (_, index): Machine => {
      const host = `${args.namePrefix}-${index + 1}`;
      const instance = new aws.ec2.Instance(
        `${name}-${host}`,
        {
          ami: imageId,
          instanceType: config.instanceType,
          subnetId,
          vpcSecurityGroupIds: [group.id],
          keyName: keyPair.keyName,
          associatePublicIpAddress,
          userData,
          metadataOptions: {
            httpEndpoint: "enabled",
            // IMDSv2 only; one hop keeps containers on the host away from the instance's role.
            httpTokens: "required",
            httpPutResponseHopLimit: 1,
          },
          rootBlockDevice: {
            volumeSize: config.rootVolume.sizeGb,
            volumeType: config.rootVolume.type,
            encrypted: config.rootVolume.encrypted,
            deleteOnTermination: true,
          },
          tags: tags(host, host),
          volumeTags: tags(`${host}-root`, host),
        },
        { ...child, dependsOn: networkReady },
      );
      const elasticIp = config.elasticIps
        ? new aws.ec2.Eip(
            `${name}-${host}-eip`,
            { domain: "vpc", instance: instance.id, tags: tags(`${host}-eip`, host) },
            child,
          )
        : undefined;
      const publicAddress = elasticIp?.publicIp ?? instance.publicIp;
      const privateAddress = instance.privateIp;
      const sshAddress = config.connectVia === "private" ? privateAddress : publicAddress;
      return machineAfterFirstContact(
        this,
        `${name}-${host}-ssh`,
        {
          name: host,
          driver: "aws",
          publicAddress: config.connectVia === "private" ? privateAddress : publicAddress,
          privateAddress,
          sshAddress,
          sshPort: 22,
          user: "root",
          privateKey: args.sshKey.privateKey,
          labels: { "dockfleet.io/driver": "aws", "dockfleet.io/region": config.region },
        },
        [instance, egress, ...rules, ...(elasticIp ? [elasticIp] : [])],
      );
    });
    this.registerOutputs({
      machines: this.machines.map((machine) => machine.name),
      securityGroupId: this.securityGroupId,
      vpcId: this.vpcId,
    });
  }
}

/** The aws driver's contract: `dockfleet:aws`, the operator's key or the generated one. */
export const awsDriver = cloudDriver("aws", AwsMachines);
