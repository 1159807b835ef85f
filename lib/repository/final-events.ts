// Announcements that a request became final (published by the transition script), for long polls:
// one pub/sub subscription per webserver; `GET /v1/requests/:id?wait=` waits on it instead of polling.
import type { Redis } from 'ioredis';
import { closeRedis } from '../redis.ts';
import type { Keys } from './keys.ts';

/** Waiters on one subscription; close() wakes every waiter and drops the subscription. */
export interface FinalWaiters {
  /** Resolves when `requestId` is announced final or after `timeoutMs`, whichever comes first. */
  wait(requestId: string, timeoutMs: number): { done: Promise<void>; cancel(): void };
  close(): Promise<void>;
}

/** Announcements of requests becoming final (the transition scripts publish them). */
export interface EventStore {
  /** Waiters on requests becoming final (a pub/sub connection of their own); close them when done. */
  openFinalWaiters(): Promise<FinalWaiters>;
}

/** The event store: waiters subscribe on a duplicate of `redis`, the one connection a store opens. */
export function createEventStore(redis: Redis, keys: Keys): EventStore {
  return {
    openFinalWaiters: () => startFinalWaiters(redis, keys.finalChannel),
  };
}

/** Subscribes (on a connection of its own: a subscribed connection can run nothing else) to the final-state channel. */
async function startFinalWaiters(connection: Redis, channel: string): Promise<FinalWaiters> {
  const subscriber = connection.duplicate();
  // Reconnection is ioredis's job; its errors are already reported by the main connection.
  subscriber.on('error', () => undefined);
  const waiters = new Map<string, Set<() => void>>();
  subscriber.on('message', (_channel: string, requestId: string) => {
    const set = waiters.get(requestId);
    if (!set) return;
    waiters.delete(requestId);
    for (const wake of set) wake();
  });
  await subscriber.subscribe(channel);
  return {
    wait(requestId, timeoutMs) {
      let wake!: () => void;
      const done = new Promise<void>((resolve) => { wake = resolve; });
      const timer = setTimeout(() => wake(), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        const set = waiters.get(requestId);
        set?.delete(wake);
        if (set?.size === 0) waiters.delete(requestId);
      };
      const set = waiters.get(requestId) ?? new Set();
      set.add(wake);
      waiters.set(requestId, set);
      void done.then(finish);
      return { done, cancel: () => wake() };
    },
    async close() {
      for (const set of waiters.values()) for (const wake of set) wake();
      waiters.clear();
      await closeRedis(subscriber);
    },
  };
}
