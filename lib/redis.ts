// Redis connections: one ioredis client per process role, set up as BullMQ workers require.
import { Redis } from 'ioredis';

/** A client for the repository and BullMQ (`maxRetriesPerRequest: null`, as BullMQ workers require). */
export function createRedis(url: string, connectionName: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName, enableAutoPipelining: true });
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
