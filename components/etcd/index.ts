export * from "./config";
export * from "./etcd-cluster";
