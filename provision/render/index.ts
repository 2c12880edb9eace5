export * from "./daemon-json";
export * from "./systemd";
export * from "./staging";
