import { ConfigError, showConfigValue } from "../../provision/config/errors";
import type { DockerEngine } from "./docker-engine";

/**
 * The engine a component is placed on by its settings' `host` (`dockfleet:<section>.host`):
 * undefined when no host is named; a ConfigError naming the key, the value and the hosts when no
 * engine has that name.
 */
export function engineNamed(
  engines: DockerEngine[],
  host: string | undefined,
  section: string,
): DockerEngine | undefined {
  if (host === undefined) return undefined;
  const engine = engines.find((candidate) => candidate.machine.name === host);
  if (engine !== undefined) return engine;
  const key = `dockfleet:${section}.host`;
  const names = engines.map((candidate) => candidate.machine.name).join(", ");
  throw new ConfigError(`${section} config`, [
    {
      key,
      value: showConfigValue(key, host),
      allowed: `must be a host of this environment (${names})`,
    },
  ]);
}
