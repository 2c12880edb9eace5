export * from "./certificates";
export * from "./inspect";
