// What bench:pipeline measures, behind one shape: the gateway (one process, or one process per role)
// and the floor (one process, or one per hop), each on a redis-server of its own with the AOF and
// `appendfsync always`, each with the URL its load client posts to and the reads the bench needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { findFreePort, startEmbeddedRedis } from '../lib/embedded-redis.ts';
import { closeRedis, createRedis } from '../lib/redis.ts';
import { createRepository } from '../lib/repository/index.ts';
import { createKeys } from '../lib/repository/keys.ts';
import { BENCH_ADMIN_TOKEN, GATEWAY_PROCESS_PREFIX, startGatewayProcess } from './gateway-process.ts';
import { FLOOR_ROLES, publishedKey } from './floor.ts';
import { CLUSTER_PREFIX, startCluster } from './recovery-cluster.ts';

export type Layout = 'one process' | 'processes';

/** When one request was accepted and published, or how it failed. */
export type Finish = { acceptedAtMs: number; publishedAtMs: number } | { failure: string };

export interface BenchSystem {
  readonly url: string;
  readonly token?: string;
  /** The measured processes (with their descendants; redis-server aside). */
  pids(): number[];
  /** Its Redis as the operator: INFO and the reads below. */
  readonly redis: Redis;
  /** Requests published so far: exactly one Redis command. */
  countPublished(): Promise<number>;
  /** Per accepted id, once final: what happened to it (ids not final yet are missing). */
  readFinishes(ids: readonly string[]): Promise<Map<string, Finish>>;
  stop(): Promise<void>;
}

/** The project every gateway request runs: floor.ts runs the same function. */
const PROJECT_CODE = 'export default (input) => ({ double: input.n * 2 })';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** `stop` called twice (a signal, then the run's own end) stops once. */
const once = (stop: () => Promise<void>) => {
  let stopped: Promise<void> | undefined;
  return () => (stopped ??= stop());
};

/**
 * The gateway in `layout`, with `env` over its shipped defaults. One project sends every request, so
 * its in-flight cap and the queued-requests cap are lifted: the benchmark measures the pipeline.
 */
export async function startGatewaySystem(layout: Layout, env: Record<string, string>): Promise<BenchSystem> {
  const settings = { GATEWAY_PROJECT_MAX_IN_FLIGHT: '1000000', GATEWAY_MAX_QUEUED: '1000000', ...env };
  const started = layout === 'one process'
    ? await startGatewayProcess(settings).then((g) => ({ url: g.url, redisUrl: g.redisUrl, prefix: g.prefix, pids: () => [g.pid], stop: g.stop }))
    : await startCluster(settings).then((c) => ({ url: c.url, redisUrl: c.redis.url, prefix: c.prefix, pids: c.pids, stop: c.stop }));
  const redis = createRedis(started.redisUrl, 'bench');
  try {
    const repository = createRepository(redis, { prefix: started.prefix });
    const response = await fetch(`${started.url}/v1/projects`, {
      method: 'POST', headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', code: PROJECT_CODE }),
    });
    if (response.status !== 201) throw new Error(`project creation answered ${response.status}`);
    const project = (await response.json()) as { id: string; apiKey: string };
    // Committees of 3 need a frozen round holding three tickets.
    while (await repository.getLatestRoundNumber().then(async (round) => round < 2 || (await repository.listTickets(round - 1)).length < 3)) await sleep(100);
    return {
      url: `${started.url}/v1/projects/${project.id}/requests`, token: project.apiKey, pids: started.pids, redis,
      // One LLEN (the bench subtracts its polls from the commands it counts); nothing is removed from the ledger meanwhile.
      countPublished: () => redis.llen(createKeys(started.prefix).ledger),
      async readFinishes(ids) {
        const finishes = new Map<string, Finish>();
        for (const id of ids) {
          const request = await repository.getRequest(id);
          if (request?.status === 'published') finishes.set(id, { acceptedAtMs: Date.parse(request.createdAt), publishedAtMs: Date.parse(request.finishedAt!) });
          else if (request?.status === 'failed') finishes.set(id, { failure: request.failure?.code ?? 'failed' });
        }
        return finishes;
      },
      stop: once(async () => {
        await closeRedis(redis);
        await started.stop();
      }),
    };
  } catch (error) {
    await closeRedis(redis);
    await started.stop();
    throw error;
  }
}

/**
 * The floor (floor.ts) in `layout`: all its roles in one process, or each role in its own, on the
 * key prefix of the gateway it stands beside in that layout.
 */
export async function startFloorSystem(layout: Layout): Promise<BenchSystem> {
  const prefix = layout === 'one process' ? GATEWAY_PROCESS_PREFIX : CLUSTER_PREFIX;
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-floor-'));
  const server = await startEmbeddedRedis({ dir: join(dir, 'redis'), password: 'bench-password', appendOnly: true });
  const port = await findFreePort();
  const children: ChildProcess[] = [];
  const stopChildren = () => Promise.all(children.map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  })));
  const redis = createRedis(server.url, 'bench');
  const stop = once(async () => {
    await stopChildren();
    await closeRedis(redis);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const groups = layout === 'one process' ? [['all']] : FLOOR_ROLES.map((role) => [role]);
    await Promise.all(groups.map((roles) => new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, 'floor.ts'), ...roles], {
        env: { ...process.env, FLOOR_REDIS_URL: server.url, FLOOR_PREFIX: prefix, FLOOR_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`floor ${roles.join(' ')} exited with ${code}`)));
    })));
    return {
      url: `http://127.0.0.1:${port}/requests`, pids: () => children.map((c) => c.pid!), redis,
      countPublished: () => redis.llen(publishedKey(prefix)),
      async readFinishes(ids) {
        const all = new Map((await redis.lrange(publishedKey(prefix), 0, -1)).map((text) => {
          const entry = JSON.parse(text) as { id: string; acceptedAtMs: number; publishedAtMs: number };
          return [entry.id, { acceptedAtMs: entry.acceptedAtMs, publishedAtMs: entry.publishedAtMs }] as const;
        }));
        return new Map(ids.filter((id) => all.has(id)).map((id) => [id, all.get(id)!]));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
