// Redis connections: one ioredis client per process role, set up as BullMQ workers require.
import { Redis } from 'ioredis';

/** A client for the repository and BullMQ (`maxRetriesPerRequest: null`, as BullMQ workers require). */
export function createRedis(url: string, connectionName: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName, enableAutoPipelining: true });
}

/** Quits politely, or drops the socket if Redis is gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
