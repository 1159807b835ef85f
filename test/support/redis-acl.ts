// Role users on a test redis-server: each role (and each node) gets its ACL user for the test's key
// prefix, applied through the default user, with a username prefix of its own so tests never share users.
import { randomBytes } from 'node:crypto';
import { ACL_ROLES, createAclUser, type AclRole, type AclUser } from '../../lib/redis-acl.ts';
import { closeRedis, createRedis, type RedisCredentials } from '../../lib/redis.ts';
import { createRedisUserAdmin, generateRedisPassword } from '../../lib/redis-users.ts';

export interface RoleUsers {
  readonly usernamePrefix: string;
  /** The credentials of a role's user, or of one node's user. */
  credentials(role: AclRole): RedisCredentials;
  nodeCredentials(nodeId: string): RedisCredentials;
  readonly users: readonly AclUser[];
}

/** Creates the users of every role (the executor user shared by every node among them) and one per node id under `prefix`, through the admin URL. */
export async function createRoleUsers(adminUrl: string, prefix: string, nodeIds: readonly string[] = []): Promise<RoleUsers> {
  const usernamePrefix = `gwt${randomBytes(4).toString('hex')}-`;
  const users = [
    ...ACL_ROLES.map((role) => createAclUser({ prefix, role, usernamePrefix })),
    ...nodeIds.map((nodeId) => createAclUser({ prefix, role: 'executor', nodeId, usernamePrefix })),
  ];
  const passwords = new Map(users.map((user) => [user.username, generateRedisPassword()]));
  const admin = createRedis(adminUrl, 'test-acl-admin');
  try {
    const userAdmin = createRedisUserAdmin(admin);
    for (const user of users) await userAdmin.putUser(user, passwords.get(user.username)!);
  } finally {
    await closeRedis(admin);
  }
  const credentialsOf = (username: string): RedisCredentials => {
    const password = passwords.get(username);
    if (!password) throw new Error(`no test user ${username}`);
    return { username, password };
  };
  return {
    usernamePrefix,
    users,
    credentials: (role) => credentialsOf(`${usernamePrefix}${role}`),
    nodeCredentials: (nodeId) => credentialsOf(`${usernamePrefix}${nodeId}`),
  };
}
