/**
 * Pure: the compose files (format 3.8) that `docker stack deploy` gets for the sample apps.
 * Every name a stack file refers to from outside (images, secret names, ports) is an argument.
 */
import { stringify } from "yaml";

/** Labels on every service, so `docker service ls --filter label=...` finds the apps. */
export const APP_LABEL = "dockfleet.io/app";

/** The key under which a stack's secret is mounted (/run/secrets/<key>). */
export const DATABASE_PASSWORD_SECRET = "db_password";

/**
 * How the web services are published. "ingress": the swarm routing mesh (every node forwards the
 * port to some replica through an IPVS virtual IP). "host": each node's own task binds the port
 * (the web service runs one task per node, `mode: global`), for kernels without IPVS.
 */
export type PublishMode = "ingress" | "host";

export interface CounterStackArgs {
  webImage: string;
  redisImage: string;
  /** Published on every node. */
  port: number;
  /** Web replicas, spread over the nodes (publishMode "host": one per node instead). */
  replicas: number;
  publishMode: PublishMode;
}

export interface WordPressStackArgs {
  wordpressImage: string;
  databaseImage: string;
  port: number;
  publishMode: PublishMode;
  /** The swarm secret holding the database password (created outside the stack: external). */
  passwordSecretName: string;
  databaseConstraints: string[];
}

type YamlValue = string | number | boolean | YamlValue[] | { [key: string]: YamlValue };

const COMPOSE_VERSION = "3.8";

const restartAlways = { condition: "any", delay: "5s" };

/**
 * Published port and scheduling of a web service. Internal services (Redis, the database) use
 * DNS round robin (`dnsrr`) and no virtual IP: they have one replica, and they then work on
 * kernels without IPVS too.
 */
function publishedWebService(
  target: number,
  published: number,
  mode: PublishMode,
  replicas: number,
): { ports: YamlValue; deploy: { [key: string]: YamlValue } } {
  const ports = [{ target, published, protocol: "tcp", mode }];
  if (mode === "host") {
    return { ports, deploy: { mode: "global", endpoint_mode: "dnsrr" } };
  }
  return {
    ports,
    deploy: { replicas, placement: { preferences: [{ spread: "node.id" }] } },
  };
}

const internalService = { replicas: 1, endpoint_mode: "dnsrr" };

/** The visit counter: Flask web replicas spread over the nodes, one Redis with a volume. */
export function renderCounterStackFile(args: CounterStackArgs): string {
  checkPort(args.port);
  const web = publishedWebService(5000, args.port, args.publishMode, args.replicas);
  return renderYaml({
    version: COMPOSE_VERSION,
    services: {
      web: {
        image: args.webImage,
        environment: { REDIS_HOST: "redis", REDIS_PORT: "6379" },
        ports: web.ports,
        deploy: {
          ...web.deploy,
          labels: { [APP_LABEL]: "counter" },
          restart_policy: restartAlways,
          // A host-mode port is held by the old task until it stops.
          update_config: {
            parallelism: 1,
            order: args.publishMode === "host" ? "stop-first" : "start-first",
          },
        },
      },
      redis: {
        image: args.redisImage,
        volumes: ["redis-data:/data"],
        deploy: {
          ...internalService,
          labels: { [APP_LABEL]: "counter" },
          restart_policy: restartAlways,
        },
      },
    },
    volumes: { "redis-data": {} },
  });
}

/** WordPress and MariaDB, each with a volume; the password only as a swarm secret file. */
export function renderWordPressStackFile(args: WordPressStackArgs): string {
  checkPort(args.port);
  const web = publishedWebService(80, args.port, args.publishMode, 1);
  const passwordFile = `/run/secrets/${DATABASE_PASSWORD_SECRET}`;
  return renderYaml({
    version: COMPOSE_VERSION,
    services: {
      db: {
        image: args.databaseImage,
        environment: {
          MARIADB_DATABASE: "wordpress",
          MARIADB_USER: "wordpress",
          MARIADB_PASSWORD_FILE: passwordFile,
        },
        secrets: [DATABASE_PASSWORD_SECRET],
        volumes: ["db-data:/var/lib/mysql"],
        deploy: {
          ...internalService,
          labels: { [APP_LABEL]: "wordpress" },
          ...(args.databaseConstraints.length > 0
            ? { placement: { constraints: args.databaseConstraints } }
            : {}),
          restart_policy: restartAlways,
        },
      },
      wordpress: {
        image: args.wordpressImage,
        environment: {
          WORDPRESS_DB_HOST: "db",
          WORDPRESS_DB_NAME: "wordpress",
          WORDPRESS_DB_USER: "wordpress",
          WORDPRESS_DB_PASSWORD_FILE: passwordFile,
        },
        secrets: [DATABASE_PASSWORD_SECRET],
        ports: web.ports,
        volumes: ["wp-content:/var/lib/wordpress/wp-content"],
        deploy: {
          ...web.deploy,
          labels: { [APP_LABEL]: "wordpress" },
          restart_policy: restartAlways,
        },
      },
    },
    secrets: { [DATABASE_PASSWORD_SECRET]: { external: true, name: args.passwordSecretName } },
    volumes: { "db-data": {}, "wp-content": {} },
  });
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`published port ${port} is not a TCP port: use an integer from 1 to 65535`);
  }
}

/**
 * Block-style YAML for plain data (the `yaml` package). Strings are always double-quoted, so no
 * value is ever read back as a number, a boolean or null; long strings (digests) are never
 * folded; an object used twice (restartAlways) is written out twice, not as an anchor and alias.
 */
export function renderYaml(value: YamlValue): string {
  return stringify(value, {
    defaultStringType: "QUOTE_DOUBLE",
    defaultKeyType: "PLAIN",
    lineWidth: 0,
    aliasDuplicateObjects: false,
  });
}
