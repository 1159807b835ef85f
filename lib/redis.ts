// Redis connections: one ioredis client per process role, set up as BullMQ workers require, logged
// in as that role's ACL user when credentials are given.
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** An ACL user's login; the password is a secret (never logged, never put into a URL that is printed). */
export interface RedisCredentials {
  readonly username: string;
  readonly password: string;
}

export interface RedisConnectOptions {
  /** `url` names one node of a Redis Cluster: the client learns the others (CLUSTER SLOTS) and follows MOVED. */
  readonly cluster?: boolean;
  /**
   * Batch the commands of one tick into one write (default true). Off for BullMQ's connection: BullMQ
   * defines its ~50 scripts on its client, and ioredis copies every script of a client onto each
   * batch it builds, which cost more CPU than the batching saved (process.ts).
   */
  readonly autoPipelining?: boolean;
}

/**
 * A client for the repository and BullMQ (`maxRetriesPerRequest: null`, as BullMQ workers require).
 * With `credentials`, they replace any user and password in `url` (ioredis would prefer the URL's).
 * CLIENT SETINFO is not sent: Redis 7.0 does not know it, and no role's ACL user allows it.
 * With `cluster`, a Cluster client seeded from `url`'s host and port: its ACL user also needs
 * CLUSTER SLOTS and CLUSTER INFO (slot map and ready check).
 */
export function createRedis(url: string, connectionName: string, credentials?: RedisCredentials, options: RedisConnectOptions = {}): Redis {
  const nodeOptions = { maxRetriesPerRequest: null, connectionName, disableClientInfo: true };
  if (options.cluster) return createCluster(url, { ...nodeOptions, ...(credentials ?? credentialsOf(url)) });
  const redisOptions = { ...nodeOptions, enableAutoPipelining: options.autoPipelining ?? true };
  if (!credentials) return new Redis(url, redisOptions);
  return new Redis(withoutCredentials(url), { ...redisOptions, username: credentials.username, password: credentials.password });
}

/**
 * BullMQ reads `maxRetriesPerRequest` from a cluster's `redisOptions`, which every node connection
 * (and BullMQ's duplicates) is made with. No auto-pipelining on a cluster: ioredis 6 files an
 * EVALSHA under the slot of its first argument (the script's hash, not its first key), so batches
 * mix slots, fail, and can throw out of the client (ioredis issue #2109; seen here as
 * "results[i] is not iterable" killing the webserver under load).
 */
function createCluster(url: string, nodeOptions: RedisOptions): Redis {
  const parsed = new URL(url);
  const seed = { host: parsed.hostname, port: Number(parsed.port || 6379) };
  const cluster = new Cluster([seed], {
    enableAutoPipelining: false,
    redisOptions: { ...nodeOptions, ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}) },
  });
  // Typed as Redis for the code that takes one: the commands the gateway sends have the same
  // signatures on both; its pipelines and MULTI must keep to keys of one slot (one hash tag).
  return cluster as unknown as Redis;
}

/** The user and password in `url`, if any (`redis://user:password@host`). */
function credentialsOf(url: string): Partial<RedisCredentials> {
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}

/** `url` with its user and password removed. */
export function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

const QUIT_WAIT_MS = 1000;

/** Quits politely (every node of a cluster) when Redis answers; drops the socket when it is gone or does not answer in time. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') return redis.disconnect();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([redis.quit(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('quit timed out')), QUIT_WAIT_MS); })]);
  } catch {
    redis.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
