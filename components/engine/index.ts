export * from "./docker-engine";
