// Lua scripts run by SHA (EVALSHA), loaded on first NOSCRIPT: one round trip per guarded write.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type Script = (redis: Redis, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

export function createScript(lua: string): Script {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (redis, keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
    }
  };
}

/** Scripts as local functions of (KEYS, ARGV), for one script that runs them in turn. */
export const luaSteps = (steps: Record<string, string>): string => Object.entries(steps).map(([name, body]) => `local function ${name}(KEYS, ARGV)\n${body}\nend`).join('\n');
