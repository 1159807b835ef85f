// Health of the repository's connection: what readiness checks and the API's fast 503 ask.
import type { Redis } from 'ioredis';

const PING_TIMEOUT_MS = 1000;

/** Whether Redis is reachable, without ever waiting in the client's offline queue. */
export interface HealthStore {
  /** True when Redis answers PING within a second (false at once while disconnected). */
  ping(): Promise<boolean>;
  /** True while the connection to Redis is up (answers right away; a request would only queue). */
  isConnected(): boolean;
}

/** The health store of the shared connection. */
export function createHealthStore(redis: Redis): HealthStore {
  return {
    async ping() {
      if (redis.status !== 'ready') return false;
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve('timeout'), PING_TIMEOUT_MS); });
        return (await Promise.race([redis.ping(), timeout])) === 'PONG';
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    isConnected: () => redis.status === 'ready',
  };
}
