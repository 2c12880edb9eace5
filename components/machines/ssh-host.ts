import * as pulumi from "@pulumi/pulumi";
import { DynamicResource, type ResourceArgs } from "../../provision/dynamic/resource";
import type { SshConnectionArgs } from "../../provision/ssh/types";
import { isReachedDifferently, runRemoteStep } from "../../provision/dynamic/remote-step";
import { withHostFacts } from "../../provision/dynamic/host-facts";

interface SshHostInputs {
  host: string;
  connection: SshConnectionArgs;
  logUrn: string;
}

interface SshHostOutputs extends SshHostInputs {
  /** The key pinned on first contact (or the one given in config, checked). */
  hostKey: string;
  osId: string;
  osVersion: string;
  arch: string;
}

const OS_COMMAND = '. /etc/os-release && echo "$ID" "${VERSION_ID:-}" "$(uname -m)"';

export const sshHostProvider = withHostFacts<SshHostInputs, SshHostOutputs>(
  {
    async create(inputs) {
      // Only reads: an existing host is never wiped or reinstalled by being adopted.
      return await runRemoteStep(inputs, "check host", async (client) => {
        const [osId = "", osVersion = "", arch = ""] = (await client.execOrThrow(OS_COMMAND)).stdout
          .trim()
          .split(/\s+/);
        const hostKey = inputs.connection.hostKey ?? client.hostKey;
        return {
          id: inputs.host,
          outs: {
            ...inputs,
            connection: { ...inputs.connection, hostKey },
            hostKey,
            osId,
            osVersion,
            arch,
          },
        };
      });
    },
    async diff(_id, olds, news) {
      // A host key given in config that differs from the pinned one names another machine. Any
      // other change (address, port, user, login key) is the same machine reached differently.
      const anotherMachine =
        news.connection.hostKey !== undefined && news.connection.hostKey !== olds.hostKey;
      const changes = anotherMachine || isReachedDifferently(olds.connection, news.connection);
      return { changes, replaces: anotherMachine ? ["connection"] : [] };
    },
    async update(_id, olds, news) {
      // Same machine: the pinned host key stays, and the host at the new address, port or user
      // must show it (another machine there is refused, never adopted in its place).
      const connection = { ...news.connection, hostKey: olds.hostKey };
      if (isReachedDifferently(olds.connection, connection)) {
        await runRemoteStep({ ...news, connection }, "check host", (client) =>
          client.execOrThrow("true"),
        );
      }
      return { outs: { ...olds, ...news, connection } };
    },
  },
  // The machine as adopted: its OS and architecture. Another machine at the address (another
  // host key) reads as unreachable: nothing is sent to it.
  () => `. /etc/os-release && echo "os=$ID \${VERSION_ID:-}" && echo "arch=$(uname -m)"`,
);

export type SshHostArgs = ResourceArgs<SshHostInputs>;

const sshHostSpec = {
  type: "SshHost",
  module: __filename,
  provider: "sshHostProvider",
  outputs: ["hostKey", "osId", "osVersion", "arch"],
};

/** An existing host reached over SSH (docker-machine's generic driver): its key pinned, its OS read. */
export class SshHost extends DynamicResource {
  declare readonly hostKey: pulumi.Output<string>;
  declare readonly osId: pulumi.Output<string>;

  constructor(name: string, args: SshHostArgs, opts?: pulumi.CustomResourceOptions) {
    super(sshHostSpec, name, args, opts);
  }
}
