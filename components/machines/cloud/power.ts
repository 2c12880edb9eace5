import { pollUntil } from "../../../provision/dynamic/poll";
import type { HostPower, PowerState, PowerTarget, StateResource } from "../power";

/**
 * The aws and aliyun drivers' power: instance stop/start through the cloud's API. This checkout
 * ships no cloud SDK client (the bridged Pulumi providers create instances but cannot stop them)
 * and no cloud is reachable here, so the requests are built here in the APIs' own shapes (EC2
 * StopInstances/StartInstances/DescribeInstances, ECS StopInstance/StartInstance/
 * DescribeInstances) and sent through a CloudApi: the unit tests install a recording mock
 * (useCloudApi); without one the command fails naming the request it would send.
 */

export type CloudProvider = "aws" | "aliyun";

/** One API call: the service, the action and its parameters, as the cloud's API names them. */
export interface CloudRequest {
  provider: CloudProvider;
  service: "ec2" | "ecs";
  action: string;
  region: string;
  params: Record<string, unknown>;
}

export type CloudApi = (request: CloudRequest) => Promise<unknown>;

const noSdk: CloudApi = (request) =>
  Promise.reject(
    new Error(
      `${request.provider} power needs the cloud's SDK client, which this dockfleet does not ` +
        `include; the call would be ${request.service}:${request.action} in ${request.region} ` +
        `with ${JSON.stringify(request.params)} (stop or start the instance in the console)`,
    ),
  );

const apis: Record<CloudProvider, CloudApi> = { aws: noSdk, aliyun: noSdk };

/** Sends PROVIDER's calls to API until the returned function is called (tests). */
export function useCloudApi(provider: CloudProvider, api: CloudApi): () => void {
  const previous = apis[provider];
  apis[provider] = api;
  return () => {
    apis[provider] = previous;
  };
}

const INSTANCE_TYPES: Record<CloudProvider, string> = {
  aws: "aws:ec2/instance:Instance",
  aliyun: "alicloud:ecs/instance:Instance",
};

/** Pure: the instance of HOST in a state's resources (the driver names it `<name>-<host>`). */
export function findInstance(
  provider: CloudProvider,
  resources: StateResource[],
  host: string,
): { id: string; region: string } {
  const found = resources.find(
    (resource) => resource.type === INSTANCE_TYPES[provider] && resource.urn.endsWith(`-${host}`),
  );
  const id = found?.id ?? (found?.outputs?.id as string | undefined);
  const zone = found?.outputs?.availabilityZone;
  if (found === undefined || id === undefined || typeof zone !== "string") {
    throw new Error(`the stack's state has no ${provider} instance for host ${host}`);
  }
  // A zone is its region plus a letter: eu-west-1a (AWS), cn-hangzhou-h (Alibaba Cloud).
  const region = provider === "aws" ? zone.replace(/[a-z]$/, "") : zone.replace(/-[a-z]$/, "");
  return { id, region };
}

/** Pure: the requests that read, stop and start one instance. */
export function planInstancePower(
  provider: CloudProvider,
  instance: { id: string; region: string },
): Record<"describe" | "stop" | "start", CloudRequest> {
  const call = (action: string, params: Record<string, unknown>): CloudRequest =>
    provider === "aws"
      ? { provider, service: "ec2", action, region: instance.region, params }
      : {
          provider,
          service: "ecs",
          action,
          region: instance.region,
          params: { RegionId: instance.region, ...params },
        };
  return provider === "aws"
    ? {
        describe: call("DescribeInstances", { InstanceIds: [instance.id] }),
        stop: call("StopInstances", { InstanceIds: [instance.id] }),
        start: call("StartInstances", { InstanceIds: [instance.id] }),
      }
    : {
        describe: call("DescribeInstances", { InstanceIds: JSON.stringify([instance.id]) }),
        stop: call("StopInstance", { InstanceId: instance.id }),
        start: call("StartInstance", { InstanceId: instance.id }),
      };
}

/** Pure: the power state in a DescribeInstances answer (EC2's State.Name, ECS's Status). */
export function instancePowerState(provider: CloudProvider, answer: unknown): PowerState {
  const name =
    provider === "aws"
      ? (answer as { Reservations?: { Instances?: { State?: { Name?: string } }[] }[] })
          .Reservations?.[0]?.Instances?.[0]?.State?.Name
      : (answer as { Instances?: { Instance?: { Status?: string }[] } }).Instances?.Instance?.[0]
          ?.Status;
  switch (name?.toLowerCase()) {
    case "running":
      return "running";
    case "pending":
    case "starting":
      return "starting";
    case "stopping":
    case "shutting-down":
      return "stopping";
    case "stopped":
      return "stopped";
    default:
      // Terminated, or not found.
      return "missing";
  }
}

/** An instance stops (or starts) within minutes; the API answers before it has. */
const SETTLE_TIMEOUT_MS = 5 * 60_000;

export function cloudPower(provider: CloudProvider): HostPower {
  const plan = async (target: PowerTarget) =>
    planInstancePower(provider, findInstance(provider, await target.stateResources(), target.host));
  const state = async (target: PowerTarget) =>
    instancePowerState(provider, await apis[provider]((await plan(target)).describe));
  const settle = async (target: PowerTarget, wanted: PowerState) => {
    const reached = await pollUntil(
      async () => ((await state(target)) === wanted ? true : undefined),
      { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 5000 },
    );
    if (reached === undefined) {
      throw new Error(`${provider} instance of ${target.host} is not ${wanted} after 5 minutes`);
    }
  };
  return {
    state,
    async stop(target) {
      await apis[provider]((await plan(target)).stop);
      await settle(target, "stopped");
    },
    async start(target) {
      await apis[provider]((await plan(target)).start);
      await settle(target, "running");
    },
  };
}
