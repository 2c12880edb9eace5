import * as pulumi from "@pulumi/pulumi";
import { providerModuleText } from "./provider-shim";

/** How one kind of dockfleet dynamic resource is declared. */
export interface DynamicResourceSpec {
  /** The type in state and in `pulumi preview` ("DockerInstall"): `dockfleet:<type>`. */
  type: string;
  /** The module that exports the provider: the resource's own file (`__filename`). */
  module: string;
  /** The name the module exports the provider under ("dockerInstallProvider"). */
  provider: string;
  /**
   * Inputs (and outputs of the same name) that are Pulumi secrets, besides `connection`, which is
   * always one: it holds the SSH private key.
   */
  secrets?: readonly string[];
  /** Outputs only the provider computes: declared so that they show as outputs from the start. */
  outputs?: readonly string[];
}

/**
 * The base of every dockfleet dynamic resource: the provider is loaded from its module (never
 * serialized with its closure), secrets are wrapped as inputs and kept secret as outputs, and the
 * provider's own outputs are declared. Subclasses only declare their typed outputs.
 *
 * It is what `pulumi.dynamic.Resource` registers (the type `pulumi-nodejs:dynamic/dockfleet:<type>`
 * and the provider's text in `__provider`), with dockfleet's own loader text in place of a
 * serialized closure (see provider-shim.ts).
 */
export abstract class DynamicResource extends pulumi.CustomResource {
  constructor(
    spec: DynamicResourceSpec,
    name: string,
    args: object,
    opts?: pulumi.CustomResourceOptions,
  ) {
    const props: Record<string, unknown> = { ...args };
    const secrets = [...("connection" in props ? ["connection"] : []), ...(spec.secrets ?? [])];
    for (const key of secrets) {
      if (props[key] !== undefined) props[key] = pulumi.secret(props[key]);
    }
    for (const key of spec.outputs ?? []) props[key] = undefined;
    props.__provider = providerModuleText(spec.module, spec.provider);
    super(`pulumi-nodejs:dynamic/dockfleet:${spec.type}`, name, props, {
      ...opts,
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...secrets],
    });
  }
}

/** A resource's arguments from its provider's inputs: any of them (or of their items) may still be an Output. */
export type ResourceArgs<Inputs> = { [K in keyof Inputs]: ResourceArg<Inputs[K]> };

type ResourceArg<T> = T extends readonly (infer Item)[]
  ? pulumi.Input<pulumi.Input<Item>[]>
  : pulumi.Input<T>;

/**
 * Runs what may refuse a component's args (resolving them against their schema, planning from
 * them, a driver creating its machines): an error thrown there becomes a ResourceError of the
 * component, so Pulumi reports it under that component.
 */
export function resolveOrFail<T>(component: pulumi.Resource, resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    throw new pulumi.ResourceError(
      error instanceof Error ? error.message : String(error),
      component,
    );
  }
}
