export * from "./config";
export * from "./monitoring";
