// The one-process default (`npm start`): every role plus local executor nodes, on REDIS_URL or a
// private password-protected redis-server (AOF on, data under GATEWAY_DATA_DIR) on which each role
// and each local node logs in as its own ACL user; generated keys and the running gateway's pid
// file are kept there too.
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { loadConfig } from '../lib/config.ts';
import { claimDataFormat } from '../lib/data-dir-version.ts';
import { GatewayError } from '../lib/errors.ts';
import { claimDataDir } from '../lib/gateway-pid-file.ts';
import { startLocalRedis, type LocalRedis } from '../lib/local-redis.ts';
import { createLogger } from '../lib/logger.ts';
import { createMetrics } from '../lib/metrics.ts';
import { loadOrCreateSecretFile } from '../lib/node-key-file.ts';
import {
  adminCredentialsOf, createSandbox, credentialsOf, nodeIdOf, openAdmin, openProcess, runMain, startExecutorNode, startRole, stopOnSignals,
  type ProcessContext,
} from '../lib/process.ts';
import { withoutCredentials, type RedisCredentials } from '../lib/redis.ts';
import type { RoleHandle } from '../lib/runtime/common.ts';
import type { SandboxRunner } from '../lib/sandbox/runner.ts';

await runMain(async () => {
  const dataDir = resolve(process.env.GATEWAY_DATA_DIR || './data');
  // First, before any file in the folder is read or written: one gateway per data folder, of this version.
  const gatewayPidFile = claimDataDir(dataDir);
  claimDataFormat(dataDir);
  const keyFile = (name: string) => join(dataDir, 'keys', name);
  const createdKeys = new Set<string>();
  const generated = (name: string, bytes = 32) => loadOrCreateSecretFile(keyFile(name), () => {
    createdKeys.add(name);
    return randomBytes(bytes).toString('hex');
  });
  const env = {
    ...process.env,
    GATEWAY_ADMIN_TOKEN: process.env.GATEWAY_ADMIN_TOKEN || process.env.GATEWAY_ADMIN_TOKEN_FILE ? process.env.GATEWAY_ADMIN_TOKEN : generated('admin-token', 24),
    GATEWAY_MASTER_KEY: process.env.GATEWAY_MASTER_KEY || process.env.GATEWAY_MASTER_KEY_FILE ? process.env.GATEWAY_MASTER_KEY : generated('master-key', 32),
    GATEWAY_COUNTER_KEY: process.env.GATEWAY_COUNTER_KEY || process.env.GATEWAY_COUNTER_KEY_FILE ? process.env.GATEWAY_COUNTER_KEY : generated('counter-key', 32),
    // One process keeps its exports beside its data, so retention can remove what they hold; an
    // empty GATEWAY_EXPORT_DIR turns the scheduled export off.
    GATEWAY_EXPORT_DIR: process.env.GATEWAY_EXPORT_DIR ?? join(dataDir, 'exports'),
  };
  const config = loadConfig(env);
  const logger = createLogger('all', config.logLevel);
  const metrics = createMetrics();
  const nodeKeyFiles = Array.from({ length: config.localNodes }, (_, i) => join(dataDir, 'nodes', `node-${i}.key`));
  let local: LocalRedis | undefined;
  const contexts: ProcessContext[] = [];
  let sandbox: SandboxRunner | undefined;
  const handles: RoleHandle[] = [];
  const isReady = () => handles.every((h) => h.isReady());
  const stopEverything = async () => {
    for (const handle of [...handles].reverse()) await handle.stop();
    for (const ctx of contexts.reverse()) await ctx.close();
    await sandbox?.close();
    await local?.server.stop();
  };
  try {
    const nodeIds = nodeKeyFiles.map(nodeIdOf);
    if (!config.redisUrl) {
      local = await startLocalRedis({ dataDir, prefix: config.keyPrefix, localNodeIds: nodeIds, adminPassword: generated('redis-password'), secret: (name) => generated(name) });
    }
    const url = config.redisUrl ?? local!.server.url;
    // On the private Redis every role is its own user; on REDIS_URL every role uses the one login given.
    const shared = credentialsOf(config);
    const open = async (name: string, credentials: RedisCredentials | undefined, options: { isWebserver?: boolean; nodeId?: string } = {}) => {
      const adminCredentials = local ? undefined : adminCredentialsOf(config);
      const admin = options.isWebserver && (local || adminCredentials) ? openAdmin(config, url, logger, adminCredentials) : undefined;
      const ctx = await openProcess(name, config, url, logger, {
        ...(credentials ? { credentials } : {}), recordsLayout: options.nodeId === undefined, metrics, queueGauges: options.isWebserver ? { kind: 'all' } : null, ...(admin ? { admin } : {}),
      });
      contexts.push(ctx);
      return ctx;
    };
    const web = await open('webserver', local?.credentialsOf('webserver') ?? shared, { isWebserver: true });
    sandbox = createSandbox(web);
    for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, await open(role, local?.credentialsOf(role) ?? shared)));
    for (const [i, file] of nodeKeyFiles.entries()) {
      const ctx = await open(nodeIds[i], local?.nodeCredentialsOf(nodeIds[i]) ?? shared, { nodeId: nodeIds[i] });
      // Local nodes are registered through a connection allowed to write the node registry, never the node's own.
      handles.push(await startExecutorNode(ctx, file, { sandbox, name: `local-${i}`, registry: (web.admin ?? web).repository }));
    }
    const webHandle = (await startRole('webserver', web, isReady).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      throw new GatewayError('unavailable', `port ${config.port} is in use; set GATEWAY_PORT to another port`, { cause: error });
    })) as RoleHandle & { url: string };
    handles.push(webHandle);
    gatewayPidFile.setUrl(webHandle.url);
    // The admin token is shown once, when it was just generated; later starts say where it is.
    const adminToken = process.env.GATEWAY_ADMIN_TOKEN ? 'from GATEWAY_ADMIN_TOKEN'
      : process.env.GATEWAY_ADMIN_TOKEN_FILE ? `in ${displayPath(process.env.GATEWAY_ADMIN_TOKEN_FILE)} (GATEWAY_ADMIN_TOKEN_FILE)`
      : createdKeys.has('admin-token') ? `${config.adminToken}  (new; kept in ${displayPath(keyFile('admin-token'))})`
      : `in ${displayPath(keyFile('admin-token'))}`;
    process.stdout.write([
      '',
      `Gateway is running: ${webHandle.url}`,
      `  API:          ${webHandle.url}/v1 (OpenAPI document at ${webHandle.url}/openapi.json)`,
      `  API docs:     ${webHandle.url}/docs`,
      `  status page:  ${webHandle.url}/`,
      `  dashboard:    ${webHandle.url}/admin/queues (the admin token as password)`,
      `  admin token:  ${adminToken}`,
      `  Redis:        ${local
        ? `${withoutCredentials(local.server.url)} — private redis-server on 127.0.0.1:${local.server.port} (pid ${local.server.pid}, password in ${displayPath(keyFile('redis-password'))}), data in ${displayPath(join(dataDir, 'redis'))}`
        : `${withoutCredentials(url)} (REDIS_URL${config.redisCluster ? ', a Redis Cluster' : ''})`}`,
      ...(local ? [`  Redis users:  one per role and local node, in ${displayPath(local.aclFile)} (passwords in ${displayPath(keyFile('redis'))}/)`] : []),
      `  local nodes:  ${config.localNodes}, round length ${config.roundMs} ms`,
      '  Ctrl-C stops it.',
      '',
    ].join('\n') + '\n');
  } catch (error) {
    await stopEverything().catch(() => undefined);
    throw error;
  }
  stopOnSignals(stopEverything, logger);
});

/** `path` relative to the working folder when it lies inside it (as a user would type it). */
function displayPath(path: string): string {
  const relativePath = relative(process.cwd(), resolve(path));
  return relativePath && !relativePath.startsWith('..') && !isAbsolute(relativePath) ? relativePath : resolve(path);
}
