// The private Redis of `npm start`: a redis-server on the data folder whose ACL file holds one user per
// role and per local node (passwords in `keys/redis/<user>`, mode 0600) and the operator's default user.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeAclFile } from './acl-file.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.ts';
import { aclUsername, createAclUsers, DEFAULT_USERNAME_PREFIX, type AclRole } from './redis-acl.ts';
import type { RedisCredentials } from './redis.ts';

export interface LocalRedis {
  readonly server: EmbeddedRedis;
  /** Where the ACL file is. */
  readonly aclFile: string;
  /** The login of a role's user, or of a local node's. */
  credentialsOf(role: Exclude<AclRole, 'executor'>): RedisCredentials;
  nodeCredentialsOf(nodeId: string): RedisCredentials;
}

export interface LocalRedisOptions {
  readonly dataDir: string;
  readonly prefix: string;
  readonly localNodeIds: readonly string[];
  /** The default user's password: the operator's and the admin connection's. */
  readonly adminPassword: string;
  /** Reads a generated secret under `keys/`, creating it on first use. */
  readonly secret: (name: string) => string;
}

/**
 * Writes the ACL file (users of today's roles and nodes; node users onboarded since are kept) and starts
 * Redis on it, with the AOF and `appendfsync always` (`PERSISTENT_REDIS_ARGS`): an accepted request is on disk.
 */
export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const dir = join(options.dataDir, 'redis');
  const aclFile = join(dir, 'users.acl');
  const users = createAclUsers({ prefix: options.prefix, nodeIds: options.localNodeIds });
  const passwordOf = (username: string) => options.secret(join('redis', username));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeAclFile(aclFile, {
    defaultPassword: options.adminPassword,
    users: users.map((user) => ({ user, password: passwordOf(user.username) })),
    prefix: options.prefix,
    usernamePrefix: DEFAULT_USERNAME_PREFIX,
  });
  const server = await startEmbeddedRedis({ dir, appendOnly: true, password: options.adminPassword, aclFile });
  const login = (username: string): RedisCredentials => ({ username, password: passwordOf(username) });
  return {
    server,
    aclFile,
    credentialsOf: (role) => login(aclUsername(role)),
    nodeCredentialsOf: (nodeId) => login(aclUsername('executor', nodeId)),
  };
}
