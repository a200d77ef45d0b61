/**
 * Plays a tenant: a user bound to a built-in role (`edit` by default, which the project's tenant roles
 * aggregate into, or `admin`) in its namespaces, reached through impersonation with the test's admin
 * credentials. What the API server refuses such a user is what a real tenant is refused.
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { V1ClusterRole } from "@kubernetes/client-node";
import { AuthorizationV1Api, KubeConfig, loadAllYaml, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { clientsFor, eventually, type KubeClients } from "./kube.ts";
import { apiErrorMessage } from "./manifest.ts";

export type TenantRole = "edit" | "admin";

/** Clients that act as `user` (the API server sees that user and the group system:authenticated). */
export function clientsAs(admin: KubeClients, user: string): KubeClients {
  const config = new KubeConfig();
  const adminUser = admin.config.getCurrentUser();
  const context = admin.config.getCurrentContext();
  config.loadFromOptions({
    clusters: admin.config.getClusters(),
    users: admin.config
      .getUsers()
      .map((u) => (u.name === adminUser?.name ? { ...u, impersonateUser: user } : u)),
    contexts: admin.config.getContexts(),
    currentContext: context,
  });
  return clientsFor(config);
}

/**
 * A tenant user with `role` in each of `namespaces` (a RoleBinding per namespace, as the README's
 * tenant setup says), and clients acting as it.
 */
export async function tenantClients(
  admin: KubeClients,
  user: string,
  namespaces: string[],
  role: TenantRole = "edit",
): Promise<KubeClients> {
  const rbac = admin.config.makeApiClient(RbacAuthorizationV1Api);
  await installTenantRoles(rbac);
  for (const namespace of namespaces)
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: `${user}-${role}` },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
  // The authorizer sees a new RoleBinding a moment later: wait until it grants the role's rights.
  const authorization = admin.config.makeApiClient(AuthorizationV1Api);
  for (const namespace of namespaces)
    await eventually(`${role} effective for ${user} in ${namespace}`, async () => {
      const review = await authorization.createSubjectAccessReview({
        body: {
          spec: {
            user,
            groups: ["system:authenticated"],
            resourceAttributes: { namespace, verb: "create", group: "gpulease.io", resource: "gpuleases" },
          },
        },
      });
      return review.status?.allowed ? true : undefined;
    });
  return clientsAs(admin, user);
}

/** The message a refused call carries, or undefined when the call succeeded. */
export async function refusal(call: Promise<unknown>): Promise<string | undefined> {
  return call.then(
    () => undefined,
    (error: unknown) => apiErrorMessage(error),
  );
}

let rolesInstalled: Promise<void> | undefined;

/**
 * The project's ClusterRoles (config/rbac/aggregated-roles.yaml), installed once per test process, and
 * their aggregation into edit/admin awaited: a tenant with edit manages GpuLeases through them.
 */
function installTenantRoles(rbac: RbacAuthorizationV1Api): Promise<void> {
  rolesInstalled ??= (async () => {
    const file = resolve(import.meta.dirname, "../../config/rbac/aggregated-roles.yaml");
    for (const role of loadAllYaml(readFileSync(file, "utf8")) as V1ClusterRole[]) {
      const name = role.metadata?.name ?? "";
      try {
        const current = await rbac.readClusterRole({ name });
        role.metadata = { ...role.metadata, resourceVersion: current.metadata?.resourceVersion };
        await rbac.replaceClusterRole({ name, body: role });
      } catch (error) {
        if ((error as { code?: number }).code !== 404) throw error;
        await rbac.createClusterRole({ body: role });
      }
    }
    for (const aggregate of ["edit", "admin"])
      await eventually(`GpuLeases aggregated into ${aggregate}`, async () => {
        const role = await rbac.readClusterRole({ name: aggregate });
        return role.rules?.some((r) => r.resources?.includes("gpuleases")) ? true : undefined;
      });
  })();
  return rolesInstalled;
}
