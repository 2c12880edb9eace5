export * from "./config";
export * from "./docker-engine";
export * from "./docker-host";
export * from "./docker-provider";
