export * from "./config";
export * from "./environment";
export * from "./outputs";
