// The one-process default (`npm start`): every role plus local executor nodes, on REDIS_URL or a
// private redis-server (AOF on, data under GATEWAY_DATA_DIR); generated keys are kept there too.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { loadConfig } from '../lib/config.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../lib/embedded-redis.ts';
import { loadOrCreateSecretFile } from '../lib/node-key-file.ts';
import { createSandbox, openProcess, runMain, startExecutorNode, startRole, stopAll, stopOnSignals } from '../lib/process.ts';
import type { RoleHandle } from '../lib/roles/common.ts';

await runMain(async () => {
  const dataDir = resolve(process.env.GATEWAY_DATA_DIR || './data');
  const generated = (name: string, bytes: number) => loadOrCreateSecretFile(join(dataDir, 'keys', name), () => randomBytes(bytes).toString('hex'));
  const env = {
    ...process.env,
    GATEWAY_ADMIN_TOKEN: process.env.GATEWAY_ADMIN_TOKEN || process.env.GATEWAY_ADMIN_TOKEN_FILE ? process.env.GATEWAY_ADMIN_TOKEN : generated('admin-token', 24),
    GATEWAY_MASTER_KEY: process.env.GATEWAY_MASTER_KEY || process.env.GATEWAY_MASTER_KEY_FILE ? process.env.GATEWAY_MASTER_KEY : generated('master-key', 32),
    GATEWAY_COUNTER_KEY: process.env.GATEWAY_COUNTER_KEY || process.env.GATEWAY_COUNTER_KEY_FILE ? process.env.GATEWAY_COUNTER_KEY : generated('counter-key', 32),
  };
  const config = loadConfig(env);
  let redis: EmbeddedRedis | undefined;
  if (!config.redisUrl) redis = await startEmbeddedRedis({ dir: join(dataDir, 'redis'), appendOnly: true });
  const ctx = await openProcess('all', config, config.redisUrl ?? redis!.url);
  const handles: RoleHandle[] = [];
  const sandbox = createSandbox(ctx);
  const isReady = () => handles.every((h) => h.isReady());
  try {
    for (const role of ['scheduler', 'receiver', 'consensus', 'sender'] as const) handles.push(await startRole(role, ctx));
    for (let i = 0; i < config.localNodes; i++) {
      handles.push(await startExecutorNode(ctx, join(dataDir, 'nodes', `node-${i}.key`), { sandbox, name: `local-${i}` }));
    }
    const web = (await startRole('webserver', ctx, isReady)) as RoleHandle & { url: string };
    handles.push(web);
    process.stdout.write([
      '',
      `Gateway is running: ${web.url}`,
      `  admin token:  ${config.adminToken}`,
      `  Redis:        ${redis ? `private redis-server (pid ${redis.pid}), data in ${join(dataDir, 'redis')}` : 'REDIS_URL'}`,
      `  local nodes:  ${config.localNodes}, round length ${config.roundMs} ms`,
      '  Ctrl-C stops it.',
      '',
    ].join('\n') + '\n');
  } catch (error) {
    await stopAll(handles, ctx).catch(() => undefined);
    await sandbox.close();
    await redis?.stop();
    throw error;
  }
  stopOnSignals(async () => {
    await stopAll(handles, ctx);
    await sandbox.close();
    await redis?.stop();
  }, ctx.logger);
});
