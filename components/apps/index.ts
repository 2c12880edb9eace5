export * from "./config";
export * from "./counter-app";
export * from "./wordpress-app";
export type { AppDeploymentArgs, AppsRegistry, AppsSwarm } from "./swarm-target";
