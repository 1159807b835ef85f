// `npm start` (entrypoints/all.ts) as a process of its own, as bench:pipeline measures it: the shipped
// one-process layout on a fresh data folder, its private redis-server and sandbox processes its children.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../lib/embedded-redis.ts';

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';

export interface GatewayProcess {
  readonly url: string;
  /** The `npm start` process (its private redis-server and sandbox processes are its children). */
  readonly pid: number;
  /** The private Redis as its operator (default user): a secret, never print it. */
  readonly redisUrl: string;
  readonly prefix: string;
  stop(): Promise<void>;
}

/**
 * `npm start` (entrypoints/all.ts) as its own process on a fresh data folder: its private redis-server
 * with the AOF and one ACL user per role and node, three local executor nodes; `env` over the
 * benchmark's admin token, loopback port and key prefix. Its output goes to a file in the data folder.
 */
/** The key prefix of the one-process gateway the benches start. */
export const GATEWAY_PROCESS_PREFIX = 'gw';

export async function startGatewayProcess(env: Record<string, string> = {}): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-all-'));
  const port = await findFreePort();
  const prefix = GATEWAY_PROCESS_PREFIX;
  const logFile = join(dir, 'gateway.log');
  const log = openSync(logFile, 'w', 0o600);
  const { REDIS_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'entrypoints', 'all.ts')], {
    env: { ...inherited, GATEWAY_DATA_DIR: join(dir, 'data'), GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port), GATEWAY_KEY_PREFIX: prefix, GATEWAY_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, ...env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = `http://127.0.0.1:${port}`;
    let redisPort: string | undefined;
    for (const deadline = Date.now() + 60_000; ; await new Promise((resolve) => setTimeout(resolve, 100))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      redisPort ??= /private redis-server on 127\.0\.0\.1:(\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
      if (redisPort && (await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) === 200) break;
    }
    const password = readFileSync(join(dir, 'data', 'keys', 'redis-password'), 'utf8').trim();
    return { url, pid: child.pid!, redisUrl: `redis://:${encodeURIComponent(password)}@127.0.0.1:${redisPort}`, prefix, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
