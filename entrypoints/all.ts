// The one-process default (`npm start`): every role plus local executor nodes, on REDIS_URL or a
// private password-protected redis-server (AOF on, data under GATEWAY_DATA_DIR); generated keys and
// the running gateway's pid file are kept there too.
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { loadConfig } from '../lib/config.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../lib/embedded-redis.ts';
import { GatewayError } from '../lib/errors.ts';
import { claimDataDir } from '../lib/gateway-pid-file.ts';
import { loadOrCreateSecretFile } from '../lib/node-key-file.ts';
import { createSandbox, openProcess, runMain, startExecutorNode, startRole, stopAll, stopOnSignals, type ProcessContext } from '../lib/process.ts';
import type { RoleHandle } from '../lib/runtime/common.ts';
import type { SandboxRunner } from '../lib/sandbox/runner.ts';

await runMain(async () => {
  const dataDir = resolve(process.env.GATEWAY_DATA_DIR || './data');
  // First, before any file in the folder is read or written: one gateway per data folder.
  const gatewayPidFile = claimDataDir(dataDir);
  const keyFile = (name: string) => join(dataDir, 'keys', name);
  const createdKeys = new Set<string>();
  const generated = (name: string, bytes: number) => loadOrCreateSecretFile(keyFile(name), () => {
    createdKeys.add(name);
    return randomBytes(bytes).toString('hex');
  });
  const env = {
    ...process.env,
    GATEWAY_ADMIN_TOKEN: process.env.GATEWAY_ADMIN_TOKEN || process.env.GATEWAY_ADMIN_TOKEN_FILE ? process.env.GATEWAY_ADMIN_TOKEN : generated('admin-token', 24),
    GATEWAY_MASTER_KEY: process.env.GATEWAY_MASTER_KEY || process.env.GATEWAY_MASTER_KEY_FILE ? process.env.GATEWAY_MASTER_KEY : generated('master-key', 32),
    GATEWAY_COUNTER_KEY: process.env.GATEWAY_COUNTER_KEY || process.env.GATEWAY_COUNTER_KEY_FILE ? process.env.GATEWAY_COUNTER_KEY : generated('counter-key', 32),
  };
  const config = loadConfig(env);
  let redis: EmbeddedRedis | undefined;
  let ctx: ProcessContext | undefined;
  let sandbox: SandboxRunner | undefined;
  const handles: RoleHandle[] = [];
  const isReady = () => handles.every((h) => h.isReady());
  try {
    if (!config.redisUrl) {
      redis = await startEmbeddedRedis({ dir: join(dataDir, 'redis'), appendOnly: true, password: generated('redis-password', 32) });
    }
    ctx = await openProcess('all', config, config.redisUrl ?? redis!.url);
    sandbox = createSandbox(ctx);
    for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    for (let i = 0; i < config.localNodes; i++) {
      handles.push(await startExecutorNode(ctx, join(dataDir, 'nodes', `node-${i}.key`), { sandbox, name: `local-${i}` }));
    }
    const web = (await startRole('webserver', ctx, isReady).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      throw new GatewayError('unavailable', `port ${config.port} is in use; set GATEWAY_PORT to another port`, { cause: error });
    })) as RoleHandle & { url: string };
    handles.push(web);
    gatewayPidFile.setUrl(web.url);
    // The admin token is shown once, when it was just generated; later starts say where it is.
    const adminToken = process.env.GATEWAY_ADMIN_TOKEN ? 'from GATEWAY_ADMIN_TOKEN'
      : process.env.GATEWAY_ADMIN_TOKEN_FILE ? `in ${displayPath(process.env.GATEWAY_ADMIN_TOKEN_FILE)} (GATEWAY_ADMIN_TOKEN_FILE)`
      : createdKeys.has('admin-token') ? `${config.adminToken}  (new; kept in ${displayPath(keyFile('admin-token'))})`
      : `in ${displayPath(keyFile('admin-token'))}`;
    process.stdout.write([
      '',
      `Gateway is running: ${web.url}`,
      `  admin token:  ${adminToken}`,
      `  Redis:        ${redis
        ? `private redis-server on 127.0.0.1:${redis.port} (pid ${redis.pid}, password in ${displayPath(keyFile('redis-password'))}), data in ${displayPath(join(dataDir, 'redis'))}`
        : 'REDIS_URL'}`,
      `  local nodes:  ${config.localNodes}, round length ${config.roundMs} ms`,
      '  Ctrl-C stops it.',
      '',
    ].join('\n') + '\n');
  } catch (error) {
    if (ctx) await stopAll(handles, ctx).catch(() => undefined);
    await sandbox?.close().catch(() => undefined);
    await redis?.stop();
    throw error;
  }
  stopOnSignals(async () => {
    await stopAll(handles, ctx);
    await sandbox.close();
    await redis?.stop();
  }, ctx.logger);
});

/** `path` relative to the working folder when it lies inside it (as a user would type it). */
function displayPath(path: string): string {
  const relativePath = relative(process.cwd(), resolve(path));
  return relativePath && !relativePath.startsWith('..') && !isAbsolute(relativePath) ? relativePath : resolve(path);
}
