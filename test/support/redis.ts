// A private redis-server for a test file: started on a free port in a temp dir, stopped by pid.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../lib/embedded-redis.ts';

export interface TestRedis {
  /** Carries the server's random password: every test connects with auth. */
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts a password-protected redis-server on a free port in a fresh temp dir. */
export async function startTestRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-'));
  const server: EmbeddedRedis = await startEmbeddedRedis({ dir, password: randomBytes(16).toString('hex') });
  return {
    url: server.url,
    pid: server.pid,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh key namespace so tests sharing one server never see each other's keys. */
export function uniquePrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}
