// Creating and removing the roles' Redis ACL users over an admin connection (ACL SETUSER/DELUSER,
// then ACL SAVE where Redis keeps an ACL file): what `gateway redis-acl --apply` and node onboarding do.
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { aclSetuserArgs, aclUsername, createAclUser, type AclUser } from './redis-acl.ts';

/** A fresh random Redis password: 32 bytes as hex. */
export function generateRedisPassword(): string {
  return randomBytes(32).toString('hex');
}

/** What an admin connection does to users. */
export interface RedisUserAdmin {
  /**
   * Defines the user from scratch (its old rules and passwords go) with `password`; `isSaved` is
   * false when Redis keeps no ACL file (the user then lives until Redis restarts).
   */
  putUser(user: AclUser, password: string): Promise<{ isSaved: boolean }>;
  /** Deletes the user (its connections are closed); false when there was none. */
  deleteUser(username: string): Promise<boolean>;
}

export function createRedisUserAdmin(redis: Redis): RedisUserAdmin {
  // Redis Cluster keeps users per node (ACL SETUSER is not replicated): a user is put on every node.
  const targets = (): Redis[] => ((redis as unknown as { isCluster?: boolean }).isCluster ? (redis as unknown as Cluster).nodes('all') : [redis]);
  async function save(node: Redis): Promise<boolean> {
    try {
      await node.call('ACL', 'SAVE');
      return true;
    } catch (error) {
      // Redis without an `aclfile` says so; any other refusal is the caller's to see.
      if ((error as Error).message.includes('ACL file')) return false;
      throw error;
    }
  }
  return {
    async putUser(user, password) {
      const saved = await Promise.all(targets().map(async (node) => {
        await node.call('ACL', 'SETUSER', ...aclSetuserArgs(user, password));
        return save(node);
      }));
      return { isSaved: saved.every(Boolean) };
    },
    async deleteUser(username) {
      const deleted = await Promise.all(targets().map(async (node) => {
        const isDeleted = Number(await node.call('ACL', 'DELUSER', username)) > 0;
        if (isDeleted) await save(node);
        return isDeleted;
      }));
      return deleted.some(Boolean);
    },
  };
}

/** An executor node's own Redis user, created when the admin registers the node and deleted when it is removed. */
export interface NodeUsers {
  /** Creates (or recreates, with a new password) the node's user; its password is to be shown once. */
  create(nodeId: string): Promise<{ username: string; password: string }>;
  remove(nodeId: string): Promise<void>;
}

export function createNodeUsers(admin: RedisUserAdmin, options: { prefix: string; usernamePrefix?: string }): NodeUsers {
  return {
    async create(nodeId) {
      const password = generateRedisPassword();
      const user = createAclUser({ prefix: options.prefix, role: 'executor', nodeId, usernamePrefix: options.usernamePrefix });
      await admin.putUser(user, password);
      return { username: user.username, password };
    },
    async remove(nodeId) {
      await admin.deleteUser(aclUsername('executor', nodeId, options.usernamePrefix));
    },
  };
}
