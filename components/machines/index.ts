export * from "./local";
export * from "./machine";
export * from "./ssh";
