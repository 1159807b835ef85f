// Redis connections: one ioredis client per process role, set up as BullMQ workers require, logged
// in as that role's ACL user when credentials are given.
import { Redis } from 'ioredis';

/** An ACL user's login; the password is a secret (never logged, never put into a URL that is printed). */
export interface RedisCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * A client for the repository and BullMQ (`maxRetriesPerRequest: null`, as BullMQ workers require).
 * With `credentials`, they replace any user and password in `url` (ioredis would prefer the URL's).
 * CLIENT SETINFO is not sent: Redis 7.0 does not know it, and no role's ACL user allows it.
 */
export function createRedis(url: string, connectionName: string, credentials?: RedisCredentials): Redis {
  const options = { maxRetriesPerRequest: null, connectionName, enableAutoPipelining: true, disableClientInfo: true };
  if (!credentials) return new Redis(url, options);
  return new Redis(withoutCredentials(url), { ...options, username: credentials.username, password: credentials.password });
}

/** `url` with its user and password removed. */
export function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

const QUIT_WAIT_MS = 1000;

/** Quits politely when Redis answers; drops the socket when it is gone or does not answer in time. */
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
