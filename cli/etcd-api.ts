import type { StackOutputs } from "../components/stack/outputs";
import { tlsJsonRequest } from "./tls-request";

/** A host's place in the stack's etcd cluster, as `inspect` shows it. */
export interface EtcdMembership {
  member: boolean;
  /** The member's name and hex id in the cluster's member list. */
  name: string | null;
  id: string | null;
  /** The host's own endpoint answers /health with "true". */
  healthy: boolean;
  endpoint: string | null;
  error: string | null;
}

interface MemberList {
  members?: { ID?: string; name?: string; clientURLs?: string[] }[];
}

/** Pure: the endpoint of the stack's etcd that is on ADDRESS (the host's private address). */
export function endpointOf(endpoints: string[], address: string): string | undefined {
  return endpoints.find((endpoint) => new URL(endpoint).hostname === address);
}

/** Pure: the member of a member list whose client URLs are on ADDRESS. */
export function memberOn(list: MemberList, address: string) {
  return list.members?.find((member) =>
    (member.clientURLs ?? []).some((url) => new URL(url).hostname === address),
  );
}

/** etcd's v3 gRPC gateway encodes uint64 ids in decimal; etcdctl shows them in hex. */
function hexId(id: string | undefined): string | null {
  return id === undefined ? null : BigInt(id).toString(16);
}

/**
 * Is the host at ADDRESS a member of the stack's etcd cluster, and does its member answer? Asks
 * the host's own endpoint for /health and the cluster (any endpoint that answers) for its member
 * list, with the stack's etcd client certificate. Never throws.
 */
export async function probeEtcdMember(
  etcd: NonNullable<StackOutputs["etcd"]>,
  address: string,
  timeoutMs: number,
): Promise<EtcdMembership> {
  const tls = { ca: etcd.caPem, cert: etcd.clientCertPem, key: etcd.clientKeyPem };
  const endpoint = endpointOf(etcd.endpoints, address) ?? null;
  let healthy = false;
  let error: string | null = null;
  if (endpoint !== null) {
    try {
      const answer = await tlsJsonRequest(`${endpoint}/health`, tls, { timeoutMs });
      healthy = (answer.json as { health?: string }).health === "true";
      if (!healthy) error = `${endpoint}/health: ${JSON.stringify(answer.json)}`;
    } catch (cause) {
      error = `${endpoint}: ${(cause as Error).message}`;
    }
  }
  // The host's own member when it answers, else the others: a stopped member is still listed.
  const order = [
    ...(endpoint === null ? [] : [endpoint]),
    ...etcd.endpoints.filter((e) => e !== endpoint),
  ];
  for (const candidate of order) {
    try {
      const answer = await tlsJsonRequest(`${candidate}/v3/cluster/member/list`, tls, {
        timeoutMs,
        method: "POST",
        body: {},
      });
      const member = memberOn(answer.json as MemberList, address);
      return {
        member: member !== undefined,
        name: member?.name ?? null,
        id: hexId(member?.ID),
        healthy,
        endpoint,
        error,
      };
    } catch (cause) {
      error ??= `${candidate}: ${(cause as Error).message}`;
    }
  }
  return { member: endpoint !== null, name: null, id: null, healthy, endpoint, error };
}
