// Project secrets, sealed with AES-256-GCM under the master key before they reach Redis.
import type { Redis } from 'ioredis';
import { openSecret, sealSecret } from '../crypto/secret-box.ts';
import type { Keys } from './keys.ts';

/** Sealed secrets per project; reading or writing values needs the master key, listing names does not. */
export interface SecretStore {
  /** Replaces the project's secrets, each sealed under the master key. */
  putSecrets(projectId: string, secrets: Record<string, string>): Promise<void>;
  /** The names of the project's secrets, sorted (values stay sealed). */
  listSecretNames(projectId: string): Promise<string[]>;
  /** Opens every secret of the project (executors only). */
  getSecrets(projectId: string): Promise<Record<string, string>>;
}

/** Throws on first use of a value when `masterKey` is missing: a process that never touches secrets needs none. */
export function createSecretStore(redis: Redis, keys: Keys, masterKey: Uint8Array | undefined): SecretStore {
  const requireMasterKey = (): Uint8Array => {
    if (!masterKey) throw new Error('GATEWAY_MASTER_KEY is required to read or write project secrets');
    return masterKey;
  };

  return {
    async putSecrets(projectId, secrets) {
      const key = requireMasterKey();
      const sealed = Object.entries(secrets).flatMap(([name, value]) => [name, sealSecret(key, projectId, name, value)]);
      const tx = redis.multi().del(keys.projectSecrets(projectId));
      if (sealed.length > 0) tx.hset(keys.projectSecrets(projectId), ...sealed);
      await tx.exec();
    },

    async listSecretNames(projectId) {
      return (await redis.hkeys(keys.projectSecrets(projectId))).sort();
    },

    async getSecrets(projectId) {
      const sealed = await redis.hgetall(keys.projectSecrets(projectId));
      const entries = Object.entries(sealed);
      if (entries.length === 0) return {};
      const key = requireMasterKey();
      return Object.fromEntries(entries.map(([name, box]) => [name, openSecret(key, projectId, name, box)]));
    },
  };
}
