export * from "./config";
export * from "./swarm-cluster";
