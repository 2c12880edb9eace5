export * from "./config";
export * from "./private-registry";
