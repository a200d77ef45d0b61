/** RoleBindings as the core reads them: who is bound to which role where. */
import type { RoleBindingView } from "../core/tenant-bindings.ts";
import type { KubeObject } from "./rest.ts";

interface RawSubject {
  kind?: string;
  name?: string;
  namespace?: string;
}

export function toRoleBindingView(raw: KubeObject): RoleBindingView {
  const namespace = raw.metadata?.namespace ?? "";
  const roleRef = (raw as { roleRef?: { kind?: string; name?: string } }).roleRef ?? {};
  const subjects = ((raw as { subjects?: RawSubject[] }).subjects ?? []).map((s) =>
    s.kind === "ServiceAccount"
      ? `ServiceAccount/${s.namespace ?? namespace}/${s.name ?? ""}`
      : `${s.kind ?? ""}/${s.name ?? ""}`,
  );
  return {
    namespace,
    name: raw.metadata?.name ?? "",
    role: `${roleRef.kind ?? ""}/${roleRef.name ?? ""}`,
    subjects,
  };
}
