import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/** Where a Docker engine's TLS API is and the client material that opens it. */
export interface DockerProviderArgs {
  /** The engine's API, `tcp://<address>:<port>` (DockerEngine.dockerHost). */
  dockerHost: pulumi.Input<string>;
  /** PEM of the CA that signed the engine's server certificate (and the client certificate). */
  caPem: pulumi.Input<string>;
  /** PEM of a client certificate signed by that CA. */
  certPem: pulumi.Input<string>;
  /** PEM of the client certificate's private key; made a Pulumi secret here whatever is passed. */
  keyPem: pulumi.Input<string>;
}

/**
 * A ready `@pulumi/docker` Provider for one dockfleet engine (or a swarm manager): the user's own
 * `docker.Container`, `docker.Service` or `docker.Network` resources given `{ provider }` are
 * created on that engine over its TLS API with client-certificate auth, as `docker --tlsverify`
 * would. The client key is sent as a secret, so the engine keeps it (and the provider's
 * `keyMaterial` output) encrypted in the state.
 */
export function createDockerProvider(
  name: string,
  args: DockerProviderArgs,
  opts?: pulumi.ResourceOptions,
): docker.Provider {
  return new docker.Provider(
    name,
    {
      host: args.dockerHost,
      caMaterial: args.caPem,
      certMaterial: args.certPem,
      keyMaterial: pulumi.secret(args.keyPem),
    },
    opts,
  );
}
