import type * as pulumi from "@pulumi/pulumi";

/**
 * A driver's `read` (what `pulumi refresh` asks) of the resource that is one host or its network:
 * kept while `stillThere` finds what create made; dropped from the state otherwise (an empty id),
 * so that the next `up` creates it again. A host made again has a new SSH host key, so every
 * step on it sees another host (isAnotherHost, provision/dynamic/remote-step.ts) and runs anew
 * there, as on a host that was replaced on purpose.
 */
export async function readWhileThere<Props>(
  id: string,
  props: Props | undefined,
  stillThere: (props: Props) => boolean | Promise<boolean>,
): Promise<pulumi.dynamic.ReadResult<Props>> {
  if (props === undefined || !(await stillThere(props))) return { id: "" };
  return { id, props };
}
