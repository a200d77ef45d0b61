/**
 * Plays a tenant: a user bound to a built-in role (`edit` by default, which the project's tenant roles
 * aggregate into, or `admin`) in its namespaces, reached through impersonation with the test's admin
 * credentials. What the API server refuses such a user is what a real tenant is refused.
 */
import {
  ApiextensionsV1Api,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PolicyV1Api,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import type { KubeClients } from "./kube.ts";
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
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    batch: config.makeApiClient(BatchV1Api),
    policy: config.makeApiClient(PolicyV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    apiextensions: config.makeApiClient(ApiextensionsV1Api),
  };
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
  for (const namespace of namespaces)
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: `${user}-${role}` },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
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
