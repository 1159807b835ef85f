// The one-process gateway the benchmarks measure in their own process: a private redis-server, every
// role, three local executors sharing one sandbox pool, the webserver on a free port; stopped and
// removed in reverse. (bench:pipeline runs it as a process of its own: gateway-process.ts.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, utf8 } from '../lib/crypto/bytes.ts';
import { sha256 } from '../lib/crypto/hash.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { startEmbeddedRedis } from '../lib/embedded-redis.ts';
import { createSandbox, openProcess, startExecutorNode, startRole, stopAll, type ProcessContext } from '../lib/process.ts';
import type { RoleHandle } from '../lib/runtime/common.ts';
import { BENCH_ADMIN_TOKEN } from './gateway-process.ts';

export { BENCH_ADMIN_TOKEN };

export interface BenchGateway {
  readonly config: Config;
  readonly ctx: ProcessContext;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts the gateway with `env` over the benchmark defaults, and waits until committees of 3 can be drawn. */
export async function startBenchGateway(env: Record<string, string> = {}): Promise<BenchGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  const redis = await startEmbeddedRedis({ dir: join(dir, 'redis'), password: 'bench-password' });
  const config = loadConfig({
    REDIS_URL: redis.url, GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', GATEWAY_LOG_LEVEL: 'warn', GATEWAY_ROUND_MS: '500',
    GATEWAY_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, GATEWAY_MASTER_KEY: toHex(sha256(utf8('bench master'))), GATEWAY_COUNTER_KEY: toHex(sha256(utf8('bench counter'))),
    ...env,
  });
  const ctx = await openProcess('bench', config, redis.url);
  const sandbox = createSandbox(ctx);
  const handles: RoleHandle[] = [];
  for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
  for (let i = 0; i < 3; i++) handles.push(await startExecutorNode(ctx, join(dir, `node-${i}.key`), { sandbox }));
  const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
  handles.push(web);
  // Committees of 3 need a frozen round with three tickets.
  for (;;) {
    const round = await ctx.repository.getLatestRoundNumber();
    if (round > 1 && (await ctx.repository.listTickets(round - 1)).length === 3) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    config, ctx, url: web.url,
    async stop() {
      // The sandbox first: runs still in flight end now rather than at their limits.
      await sandbox.close();
      await stopAll(handles, ctx);
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
