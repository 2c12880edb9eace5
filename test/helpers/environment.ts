import { Environment, StackConfigSchema } from "../../components/stack";

/**
 * For the e2e tests' inline programs: the environment of STACK from `dockfleet:` settings (keys
 * without the prefix), its local hosts started from the host image bin/test built.
 */
export function localTestEnvironment(
  stack: string,
  settings: Record<string, unknown>,
): Environment {
  return new Environment(stack, {
    stack,
    config: StackConfigSchema.parse(settings),
    hostImage: process.env.DOCKFLEET_HOST_IMAGE,
    dockerHostImage: process.env.DOCKFLEET_DOCKER_HOST_IMAGE,
  });
}
