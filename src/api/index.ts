export * from "./common.ts";
export * from "./conditions.ts";
export * from "./duration.ts";
export * from "./gpulease.ts";
export * from "./labels.ts";
export * from "./parse.ts";
export * from "./tenantquota.ts";
