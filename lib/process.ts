// Assembling a process: config → logger → Redis → repository → queues → roles, and stopping it
// all in reverse on SIGTERM/SIGINT (a second signal forces the exit).
import type { Redis } from 'ioredis';
import { fromHex } from './crypto/bytes.ts';
import { publicKey as vrfPublicKeyOf } from './crypto/ecvrf.ts';
import { computeNodeId, deriveNodeKeys } from './crypto/keys.ts';
import { loadConfig, requireSettings, type Config } from './config.ts';
import { GatewayError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { loadOrCreateNodeSeed } from './node-key-file.ts';
import { snapshotQueues, type QueueGaugeScope } from './queue-gauges.ts';
import { createQueueSet, type QueueSet } from './queues.ts';
import { closeRedis, createRedis, type RedisCredentials } from './redis.ts';
import { createNodeUsers, createRedisUserAdmin, type NodeUsers } from './redis-users.ts';
import { createRepository, type Repository } from './repository/index.ts';
import { once, systemClock, type RoleHandle } from './runtime/common.ts';
import { startConsensus } from './roles/consensus/consensus.ts';
import { startExecutor } from './roles/executor/executor.ts';
import { startHealthServer, type HealthServer } from './runtime/health-server.ts';
import { createNodeRecord } from './roles/node-record.ts';
import { startReceiver } from './roles/receiver/receiver.ts';
import { readStoreSnapshot } from './roles/scheduler/retention.ts';
import { startScheduler } from './roles/scheduler/scheduler.ts';
import { startSender } from './roles/sender/sender.ts';
import { startWebserver } from './roles/webserver/webserver.ts';
import { createCodeChecker } from './sandbox/code-checker.ts';
import { createSandboxPool } from './sandbox/pool.ts';
import { createSandboxRunner, type SandboxRunner } from './sandbox/runner.ts';

export const ROLE_NAMES = ['webserver', 'receiver', 'executor', 'consensus', 'sender', 'scheduler'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** What the roles of one process share: two Redis connections (stores, queues), logged in as the role's user. */
export interface ProcessContext {
  readonly config: Config;
  readonly logger: Logger;
  /** The repository's connection (auto-pipelined). */
  readonly connection: Redis;
  /** BullMQ's: the queues, and the workers, which derive their blocking connections from it. */
  readonly queueConnection: Redis;
  readonly repository: Repository;
  readonly queues: QueueSet;
  readonly metrics: Metrics;
  /** A privileged connection, when the process has one (the webserver's node onboarding and queue dashboard). */
  readonly admin?: AdminAccess;
  close(): Promise<void>;
}

/** What a Redis user allowed `ACL SETUSER` gives a webserver: node users, and queues the dashboard may act on. */
export interface AdminAccess {
  readonly nodeUsers: NodeUsers;
  readonly repository: Repository;
  readonly queues: QueueSet;
  close(): Promise<void>;
}

export interface OpenProcessOptions {
  /** The role's ACL user; unset: whatever user `redisUrl` names (tests, a single-user Redis). */
  readonly credentials?: RedisCredentials;
  /** Shared by every context of a process (`npm start`); a fresh registry otherwise. */
  readonly metrics?: Metrics;
  /** Which queues this context reports on `/metrics` (default all; null: it leaves the gauges to another context). */
  readonly queueGauges?: QueueGaugeScope | null;
  /** Opened with the context and closed with it. */
  readonly admin?: AdminAccess;
  /** False for an executor, whose Redis user may only read the key layout mark (default true). */
  readonly recordsLayout?: boolean;
}

export async function openProcess(name: string, config: Config, redisUrl: string, logger = createLogger(name, config.logLevel), options: OpenProcessOptions = {}): Promise<ProcessContext> {
  const { connection, queueConnection, repository, queues, closeConnections } = connectStores(name, config, redisUrl, logger, options.credentials);
  try {
    await repository.claimLayout({ mayRecord: options.recordsLayout ?? true });
  } catch (error) {
    await queues.close();
    await closeConnections();
    await options.admin?.close();
    throw error;
  }
  const metrics = options.metrics ?? createMetrics();
  const scope = options.queueGauges === undefined ? { kind: 'all' as const } : options.queueGauges;
  if (scope) metrics.setQueueSource(() => snapshotQueues(connection, config.keyPrefix, repository, scope));
  if (scope?.kind === 'all') metrics.setStoreSource(() => readStoreSnapshot(repository, config.retentionMs, Date.now()));
  return {
    config, logger, connection, queueConnection, repository, queues, metrics, ...(options.admin ? { admin: options.admin } : {}),
    async close() {
      await queues.close();
      await repository.close();
      await closeConnections();
      await options.admin?.close();
    },
  };
}

/** A connection as a user allowed `ACL SETUSER` (the operator's), with the stores and queues over it. */
export function openAdmin(config: Config, redisUrl: string, logger: Logger, credentials?: RedisCredentials): AdminAccess {
  // The dashboard's few queue calls share the admin connection.
  const { connection, repository, queues, closeConnections } = connectStores('admin', config, redisUrl, logger, credentials, { sharedQueueConnection: true });
  return {
    nodeUsers: createNodeUsers(createRedisUserAdmin(connection), { prefix: config.keyPrefix }),
    repository,
    queues,
    close: once(async () => {
      await queues.close();
      await repository.close();
      await closeConnections();
    }),
  };
}

/**
 * The repository on an auto-pipelined connection, the queues on one without (BullMQ defines its
 * scripts on its client, and an auto-pipelined client copies them all onto every batch: measured,
 * that copying cost more CPU per request than the batching saved).
 */
function connectStores(name: string, config: Config, redisUrl: string, logger: Logger, credentials?: RedisCredentials, options: { sharedQueueConnection?: boolean } = {}) {
  const onError = (err: Error) => logger.warn({ err: { message: err.message } }, 'redis connection error');
  const connection = createRedis(redisUrl, `gateway-${name}`, credentials, { cluster: config.redisCluster }).on('error', onError);
  const queueConnection = options.sharedQueueConnection
    ? connection
    : createRedis(redisUrl, `gateway-${name}-queues`, credentials, { cluster: config.redisCluster, autoPipelining: false }).on('error', onError);
  const repository = createRepository(connection, { prefix: config.keyPrefix, buckets: config.requestBuckets, idempotencyTtlMs: config.idempotencyTtlMs, ...(config.masterKey ? { masterKey: fromHex(config.masterKey, 32) } : {}) });
  const queues = createQueueSet(queueConnection, config.keyPrefix, (err) => logger.warn({ err: { message: err.message } }, 'queue error'));
  const closeConnections = async () => {
    await closeRedis(connection);
    if (queueConnection !== connection) await closeRedis(queueConnection);
  };
  return { connection, queueConnection, repository, queues, closeConnections };
}

/** The process's own ACL user from REDIS_USERNAME and REDIS_PASSWORD(_FILE); undefined when none is set. */
export function credentialsOf(config: Config): RedisCredentials | undefined {
  if (config.redisUsername === undefined && config.redisPassword === undefined) return undefined;
  requireSettings(config, ['redisUsername', 'redisPassword']);
  return { username: config.redisUsername!, password: config.redisPassword! };
}

/** The admin user from REDIS_ADMIN_USERNAME and REDIS_ADMIN_PASSWORD(_FILE); undefined without a password. */
export function adminCredentialsOf(config: Config): RedisCredentials | undefined {
  return config.redisAdminPassword === undefined ? undefined : { username: config.redisAdminUsername, password: config.redisAdminPassword };
}

/** The counter public key the webserver publishes: given, or derived from the counter key (only the scheduler needs that). */
function counterPublicKeyOf(config: Config): { counterPublicKey?: Uint8Array } {
  if (config.counterPublicKey) return { counterPublicKey: fromHex(config.counterPublicKey, 32) };
  return config.counterKey ? { counterPublicKey: vrfPublicKeyOf(fromHex(config.counterKey, 32)) } : {};
}

/** A node's id from its seed file (created if missing): what names its Redis user and queues. */
export function nodeIdOf(keyFile: string): string {
  return computeNodeId(deriveNodeKeys(loadOrCreateNodeSeed(keyFile)).signPublicKey);
}

/**
 * Starts one executor node from a seed file. With GATEWAY_NODE_AUTO_REGISTER it registers its keys
 * through `options.registry` (default: the context's own repository), a connection allowed to write
 * the node registry, which a node's own Redis user is not; `registry: null` never registers.
 */
export async function startExecutorNode(ctx: ProcessContext, keyFile: string, options: { sandbox: SandboxRunner; name?: string; registry?: Pick<Repository, 'putNode'> | null }): Promise<RoleHandle> {
  const keys = deriveNodeKeys(loadOrCreateNodeSeed(keyFile));
  const nodeId = computeNodeId(keys.signPublicKey);
  const registry = options.registry === undefined ? ctx.repository : options.registry;
  if (ctx.config.nodeAutoRegister && registry) {
    // A signed registration; a removed node stays removed (only the admin re-admits it).
    const { outcome } = await registry.putNode(createNodeRecord(keys, options.name ?? ctx.config.nodeName ?? nodeId, systemClock.now()));
    if (outcome === 'removed') ctx.logger.warn({ nodeId }, 'node is removed; only the admin can re-admit it');
    if (outcome === 'conflict') ctx.logger.error({ nodeId }, 'node is registered with other keys; not registered');
  } else if ((await ctx.repository.getNode(nodeId))?.status !== 'active') {
    ctx.logger.warn({ nodeId }, 'node is not registered: it gets no work until the admin registers it (POST /v1/nodes)');
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
        const web = await startWebserver({
          ...base, checkCode: checker.check, isReady,
          ...counterPublicKeyOf(ctx.config),
          ...(ctx.admin ? { nodeUsers: ctx.admin.nodeUsers, dashboardQueues: ctx.admin.queues } : {}),
        });
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
      // An executor process never registers itself: its user may not write the node registry.
      const handle = await startExecutorNode(ctx, ctx.config.nodeKeyFile!, { sandbox, registry: null });
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
  const logger = createLogger(role, config.logLevel);
  const adminCredentials = role === 'webserver' ? adminCredentialsOf(config) : undefined;
  const executorScope = role === 'executor' && config.nodeKeyFile ? { kind: 'node' as const, nodeId: nodeIdOf(config.nodeKeyFile) } : undefined;
  const ctx = await openProcess(role, config, config.redisUrl!, logger, {
    credentials: credentialsOf(config),
    recordsLayout: role !== 'executor',
    ...(executorScope ? { queueGauges: executorScope } : {}),
    ...(adminCredentials ? { admin: openAdmin(config, config.redisUrl!, logger, adminCredentials) } : {}),
  });
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
