// Assembling a process: config → logger → Redis → repository → queues → roles, and stopping it
// all in reverse on SIGTERM/SIGINT (a second signal forces the exit).
import type { Redis } from 'ioredis';
import { fromHex } from './crypto/bytes.ts';
import { computeNodeId, deriveNodeKeys } from './crypto/keys.ts';
import { loadConfig, requireSettings, type Config } from './config.ts';
import { GatewayError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics, type QueueSnapshot } from './metrics.ts';
import { loadOrCreateNodeSeed } from './node-key-file.ts';
import { createQueueSet, PER_NODE_QUEUE_KINDS, SHARED_QUEUE_KINDS, type QueueKind, type QueueSet } from './queues.ts';
import { closeRedis, createRedis } from './redis.ts';
import { createRepository, type Repository } from './repository/index.ts';
import { systemClock, type RoleHandle } from './runtime/common.ts';
import { startConsensus } from './roles/consensus/consensus.ts';
import { startExecutor } from './roles/executor/executor.ts';
import { startHealthServer, type HealthServer } from './runtime/health-server.ts';
import { createNodeRecord } from './roles/node-record.ts';
import { startReceiver } from './roles/receiver/receiver.ts';
import { startScheduler } from './roles/scheduler/scheduler.ts';
import { startSender } from './roles/sender/sender.ts';
import { startWebserver } from './roles/webserver/webserver.ts';
import { createCodeChecker } from './sandbox/code-checker.ts';
import { createSandboxPool } from './sandbox/pool.ts';
import { createSandboxRunner, type SandboxRunner } from './sandbox/runner.ts';

export const ROLE_NAMES = ['webserver', 'receiver', 'executor', 'consensus', 'sender', 'scheduler'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** What the roles of one process share. */
export interface ProcessContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly connection: Redis;
  readonly repository: Repository;
  readonly queues: QueueSet;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

export async function openProcess(name: string, config: Config, redisUrl: string, logger = createLogger(name, config.logLevel)): Promise<ProcessContext> {
  const connection = createRedis(redisUrl, `gateway-${name}`);
  connection.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  const repository = createRepository(connection, { prefix: config.keyPrefix, idempotencyTtlMs: config.idempotencyTtlMs, ...(config.masterKey ? { masterKey: fromHex(config.masterKey, 32) } : {}) });
  const queues = createQueueSet(connection, config.keyPrefix, (err) => logger.warn({ err: { message: err.message } }, 'queue error'));
  const metrics = createMetrics();
  metrics.setQueueSource(() => snapshotQueues(queues, repository));
  return {
    config, logger, connection, repository, queues, metrics,
    async close() {
      await queues.close();
      await repository.close();
      await closeRedis(connection);
    },
  };
}

/** Starts one executor node from a seed file, registering its keys when asked to. */
export async function startExecutorNode(ctx: ProcessContext, keyFile: string, options: { sandbox: SandboxRunner; name?: string }): Promise<RoleHandle> {
  const keys = deriveNodeKeys(loadOrCreateNodeSeed(keyFile));
  const nodeId = computeNodeId(keys.signPublicKey);
  if (ctx.config.nodeAutoRegister) {
    await ctx.repository.putNode(createNodeRecord(keys, options.name ?? ctx.config.nodeName ?? nodeId, systemClock.now()));
  }
  ctx.logger.info({ nodeId }, 'executor node started');
  return startExecutor({ ...ctx, clock: systemClock, logger: ctx.logger.child({ role: 'executor' }), nodeId, keys, sandbox: options.sandbox });
}

/** The sandbox of an executor process: a supervised process pool, or isolates in-process when sized 0. */
export function createSandbox(ctx: Pick<ProcessContext, 'config' | 'logger' | 'metrics'>): SandboxRunner {
  if (ctx.config.sandboxProcesses === 0) return createSandboxRunner();
  return createSandboxPool({
    size: ctx.config.sandboxProcesses,
    onRestart: (reason) => {
      ctx.metrics.sandboxRestarts.inc({ reason: reason.startsWith('signal') || reason === 'hung' ? reason : 'exit' });
      ctx.logger.warn({ reason }, 'sandbox process replaced');
    },
    onStderrBytes: (bytes) => ctx.logger.warn({ bytes }, 'sandbox process wrote to stderr'),
  });
}

/** Starts one role in this process (the executor also gets its sandbox and stops it afterwards). */
export async function startRole(role: RoleName, ctx: ProcessContext, isReady: () => boolean = () => true): Promise<RoleHandle> {
  const base = { ...ctx, clock: systemClock, logger: ctx.logger.child({ role }) };
  switch (role) {
    case 'webserver': {
      const checker = createCodeChecker({
        processes: ctx.config.checkProcesses,
        timeoutMs: ctx.config.checkTimeoutMs,
        maxQueued: ctx.config.checkMaxQueued,
        onRestart: (reason) => ctx.metrics.sandboxRestarts.inc({ reason: reason === 'deadline' ? 'check_deadline' : 'check_exit' }),
        onStderrBytes: (bytes) => base.logger.warn({ bytes }, 'code-check process wrote to stderr'),
      });
      try {
        const web = await startWebserver({ ...base, checkCode: checker.check, isReady, ...(ctx.config.counterKey ? { counterKey: fromHex(ctx.config.counterKey, 32) } : {}) });
        return { ...web, stop: async () => { await web.stop(); await checker.close(); } };
      } catch (error) {
        await checker.close();
        throw error;
      }
    }
    case 'receiver':
      return startReceiver(base);
    case 'consensus':
      return startConsensus(base);
    case 'sender':
      return startSender(base);
    case 'scheduler':
      requireSettings(ctx.config, ['counterKey']);
      return startScheduler({ ...base, counterKey: fromHex(ctx.config.counterKey!, 32) });
    case 'executor': {
      requireSettings(ctx.config, ['nodeKeyFile']);
      const sandbox = createSandbox(ctx);
      const handle = await startExecutorNode(ctx, ctx.config.nodeKeyFile!, { sandbox });
      return { name: handle.name, isReady: handle.isReady, stop: async () => { await handle.stop(); await sandbox.close(); } };
    }
  }
}

const STOP_GRACE_MS = 20_000;

/** Stops `stop` on SIGTERM/SIGINT; a second signal exits at once with code 130. */
export function stopOnSignals(stop: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    // Running jobs get this long to finish; after it the exit is forced, as after a second signal.
    setTimeout(() => {
      logger.warn({ signal }, 'stop took too long: exiting now');
      process.exit(1);
    }, STOP_GRACE_MS).unref();
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ err: { message: err.message } }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Stops handles in reverse order of start, then the process context. */
export async function stopAll(handles: readonly RoleHandle[], ctx: ProcessContext): Promise<void> {
  for (const handle of [...handles].reverse()) await handle.stop();
  await ctx.close();
}

const DEFAULT_HEALTH_PORTS: Record<Exclude<RoleName, 'webserver'>, number> = { receiver: 9101, executor: 9102, consensus: 9103, sender: 9104, scheduler: 9105 };

/** Runs a process's start-up; on failure prints one clear line (no stack for expected errors) and exits 1. */
export async function runMain(start: () => Promise<void>): Promise<void> {
  // Local-time Date methods in user code must agree across committee members on any host.
  process.env.TZ = 'UTC';
  try {
    await start();
  } catch (error) {
    const message = error instanceof GatewayError ? error.message : (error as Error)?.stack ?? String(error);
    process.stderr.write(`gateway: ${message}\n`);
    process.exit(1);
  }
}

/** The whole life of a one-role process (what each file in entrypoints/ runs). */
export function runSingleRole(role: RoleName, env: NodeJS.ProcessEnv): Promise<void> {
  return runMain(() => startSingleRole(role, env));
}

async function startSingleRole(role: RoleName, env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env);
  requireSettings(config, ['redisUrl']);
  const ctx = await openProcess(role, config, config.redisUrl!);
  const handle = await startRole(role, ctx);
  let health: HealthServer | undefined;
  if (role !== 'webserver') {
    health = await startHealthServer({
      port: config.healthPort ?? DEFAULT_HEALTH_PORTS[role],
      host: config.host,
      metrics: ctx.metrics,
      isReady: async () => handle.isReady() && (await ctx.repository.ping()),
    });
  }
  ctx.logger.info({ ...(health ? { healthPort: health.port } : { url: (handle as { url?: string }).url }) }, `${role} started`);
  stopOnSignals(async () => {
    await health?.close();
    await stopAll([handle], ctx);
  }, ctx.logger);
}

/** Depth per state and oldest waiting age of every queue: the fixed ones and each active node's. */
async function snapshotQueues(queues: QueueSet, repository: Repository): Promise<QueueSnapshot[]> {
  const nodes = (await repository.listNodes()).filter((n) => n.status === 'active');
  const targets: [QueueKind, string | undefined][] = [
    ...SHARED_QUEUE_KINDS.map((kind): [QueueKind, undefined] => [kind, undefined]),
    ...nodes.flatMap((n) => PER_NODE_QUEUE_KINDS.map((kind): [QueueKind, string] => [kind, n.id])),
  ];
  const now = Date.now();
  return Promise.all(targets.map(async ([kind, nodeId]) => {
    const queue = queues.get(kind, nodeId);
    const [counts, oldest] = await Promise.all([
      queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
      queue.getJobs(['waiting'], 0, 0, true),
    ]);
    return { queue: queue.name, counts, oldestWaitingSeconds: oldest[0] ? Math.max(0, (now - oldest[0].timestamp) / 1000) : 0 };
  }));
}
