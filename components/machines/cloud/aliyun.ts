import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import type { AliyunDriverConfig } from "../config";
import { planFirewallRules } from "./firewall";
import { renderCloudConfig } from "./cloud-init";
import { machineAfterFirstContact } from "../first-contact";
import type { Machine } from "../machine";
import { type CloudMachinesArgs, cloudDriver } from "./cloud-driver";

export type AliyunMachinesArgs = CloudMachinesArgs<AliyunDriverConfig>;

/** Pure: tags for one resource: the user's, then dockfleet's own (which win). */
export function aliyunTags(
  config: Pick<AliyunDriverConfig, "tags">,
  stack: string,
  host?: string,
): Record<string, string> {
  return {
    ...config.tags,
    "dockfleet.io/stack": stack,
    ...(host === undefined ? {} : { "dockfleet.io/host": host }),
  };
}

/** Pure: the first-boot user data of an ECS host (base64, as the ECS API takes it). */
export function renderAliyunUserData(config: Pick<AliyunDriverConfig, "osMirror">): string {
  const text = renderCloudConfig({
    // Alibaba Cloud's public images log in as root with the key pair already.
    allowRootKeyLogin: true,
    aptMirror: config.osMirror === "none" ? undefined : config.osMirror,
  });
  return Buffer.from(text, "utf8").toString("base64");
}

/**
 * The aliyun driver: ECS instances in a new VPC and VSwitch, a security group as tight as the aws
 * driver's (members do not reach each other except on the cluster ports: inner access is dropped),
 * a key pair from the environment's key, no password. Hosts take OS packages from Aliyun's mirror
 * and (by default, see config) docker-ce from Aliyun's docker-ce mirror.
 */
export class AliyunMachines extends pulumi.ComponentResource {
  readonly machines: Machine[];
  readonly securityGroupId: pulumi.Output<string>;
  readonly vpcId: pulumi.Output<string>;

  constructor(name: string, args: AliyunMachinesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dockfleet:machines:AliyunMachines", name, {}, opts);
    const { config, stack } = args;
    const provider = new alicloud.Provider(
      `${name}-provider`,
      { region: config.region },
      { parent: this },
    );
    const child = { parent: this, provider };
    const tags = (host?: string) => aliyunTags(config, stack, host);

    const zoneId =
      config.zoneId !== undefined
        ? pulumi.output(config.zoneId)
        : alicloud
            .getZonesOutput(
              {
                availableResourceCreation: "VSwitch",
                availableInstanceType: config.instanceType,
                availableDiskCategory: config.systemDisk.category,
              },
              child,
            )
            .apply((result) => {
              const zone = result.zones[0];
              if (zone === undefined) {
                throw new Error(
                  `no zone in ${config.region} offers ${config.instanceType} with ${config.systemDisk.category} disks: ` +
                    "choose another dockfleet:aliyun.instanceType or systemDisk.category",
                );
              }
              return zone.id;
            });

    const vpc = new alicloud.vpc.Network(
      `${name}-vpc`,
      { vpcName: `${stack}-dockfleet`, cidrBlock: config.vpcCidr, tags: tags() },
      child,
    );
    this.vpcId = vpc.id;
    const vswitch = new alicloud.vpc.Switch(
      `${name}-vswitch`,
      {
        vswitchName: `${stack}-dockfleet`,
        vpcId: vpc.id,
        cidrBlock: config.vswitchCidr,
        zoneId,
        tags: tags(),
      },
      child,
    );

    const group = new alicloud.ecs.SecurityGroup(
      `${name}-sg`,
      {
        securityGroupName: `${stack}-dockfleet`,
        description: `dockfleet ${stack}: SSH and Docker API from admin networks; cluster ports between members`,
        vpcId: vpc.id,
        // A basic group lets its members reach each other on every port unless told otherwise.
        innerAccessPolicy: "Drop",
        tags: tags(),
      },
      child,
    );
    this.securityGroupId = group.id;
    const rules = planFirewallRules({
      adminCidrs: config.adminCidrs,
      ports: args.ports,
    }).map(
      (rule) =>
        new alicloud.ecs.SecurityGroupRule(
          `${name}-in-${rule.key}`,
          {
            securityGroupId: group.id,
            type: "ingress",
            description: rule.description,
            ipProtocol: rule.protocol,
            portRange: `${rule.fromPort}/${rule.toPort}`,
            nicType: "intranet",
            policy: "accept",
            priority: 1,
            ...(rule.source.kind === "cidr"
              ? { cidrIp: rule.source.cidr }
              : { sourceSecurityGroupId: group.id }),
          },
          child,
        ),
    );

    const keyPair = new alicloud.ecs.EcsKeyPair(
      `${name}-key`,
      { keyPairName: `${stack}-dockfleet`, publicKey: args.sshKey.publicKey, tags: tags() },
      child,
    );

    const imageId =
      config.image.id !== undefined
        ? pulumi.output(config.image.id)
        : alicloud.ecs
            .getImagesOutput(
              {
                nameRegex: config.image.nameRegex,
                owners: config.image.owners,
                mostRecent: true,
              },
              child,
            )
            .apply((result) => {
              const image = result.images[0];
              if (image === undefined) {
                throw new Error(
                  `no ${config.image.owners} image in ${config.region} matches ${JSON.stringify(config.image.nameRegex)}: ` +
                    "set dockfleet:aliyun.image.nameRegex or image.id",
                );
              }
              return image.id;
            });
    const userData = renderAliyunUserData(config);

    this.machines = Array.from({ length: args.count }, (_, index): Machine => {
      const host = `${args.namePrefix}-${index + 1}`;
      const instance = new alicloud.ecs.Instance(
        `${name}-${host}`,
        {
          instanceName: `${stack}-${host}`,
          hostName: host,
          imageId,
          instanceType: config.instanceType,
          instanceChargeType: "PostPaid",
          vswitchId: vswitch.id,
          securityGroups: [group.id],
          keyName: keyPair.keyPairName,
          systemDiskCategory: config.systemDisk.category,
          systemDiskSize: config.systemDisk.sizeGb,
          systemDiskEncrypted: config.systemDisk.encrypted,
          internetChargeType: "PayByTraffic",
          internetMaxBandwidthOut: config.internetMaxBandwidthOut,
          // Metadata only with a session token (the ECS equivalent of IMDSv2).
          httpEndpoint: "enabled",
          httpTokens: "required",
          userData,
          tags: tags(host),
        },
        child,
      );
      const privateAddress = instance.privateIp;
      const publicAddress = config.connectVia === "private" ? privateAddress : instance.publicIp;
      return machineAfterFirstContact(
        this,
        `${name}-${host}-ssh`,
        {
          name: host,
          driver: "aliyun",
          publicAddress,
          privateAddress,
          sshAddress: publicAddress,
          sshPort: 22,
          user: "root",
          privateKey: args.sshKey.privateKey,
          labels: { "dockfleet.io/driver": "aliyun", "dockfleet.io/region": config.region },
        },
        [instance, ...rules],
      );
    });
    this.registerOutputs({
      machines: this.machines.map((machine) => machine.name),
      securityGroupId: this.securityGroupId,
      vpcId: this.vpcId,
    });
  }
}

/** The aliyun driver's contract: `dockfleet:aliyun`, the operator's key or the generated one. */
export const aliyunDriver = cloudDriver("aliyun", AliyunMachines);
