// The one-process default (`npm start`): every role plus local executor nodes, on REDIS_URL or a
// private password-protected redis-server (AOF on, data under GATEWAY_DATA_DIR); generated keys and
// the running gateway's pid file are kept there too.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { loadConfig } from '../lib/config.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../lib/embedded-redis.ts';
import { GatewayError } from '../lib/errors.ts';
import { loadOrCreateSecretFile } from '../lib/node-key-file.ts';
import { createSandbox, openProcess, runMain, startExecutorNode, startRole, stopAll, stopOnSignals, type ProcessContext } from '../lib/process.ts';
import type { RoleHandle } from '../lib/roles/common.ts';
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

/**
 * Writes `<dataDir>/gateway.pid` (`{pid, url}`) for this process, removed when it exits. Throws
 * GatewayError `unavailable` while the gateway it names still runs; a file left by one that is gone
 * is taken over, and so is its redis-server (startEmbeddedRedis stops it).
 */
function claimDataDir(dataDir: string): { setUrl(url: string): void } {
  const path = join(dataDir, 'gateway.pid');
  const write = (url: string | undefined, flag: 'w' | 'wx') => writeFileSync(path, `${JSON.stringify({ pid: process.pid, url })}\n`, { flag });
  mkdirSync(dataDir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      write(undefined, 'wx');
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readGatewayPidFile(path);
    if ((owner && isLiveNodeProcess(owner.pid)) || attempt === 2) {
      const where = owner ? `pid ${owner.pid}${owner.url ? `, ${owner.url}` : ''}` : path;
      throw new GatewayError('unavailable', `a gateway is already running from ${dataDir} (${where}); stop it first or set GATEWAY_DATA_DIR`);
    }
    rmSync(path, { force: true });
  }
  // On every exit path (a clean stop, a failed start, a forced exit); a killed gateway leaves it stale.
  process.once('exit', () => {
    if (readGatewayPidFile(path)?.pid === process.pid) rmSync(path, { force: true });
  });
  return { setUrl: (url) => write(url, 'w') };
}

function readGatewayPidFile(path: string): { pid: number; url?: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; url?: unknown };
    if (!Number.isSafeInteger(parsed.pid)) return undefined;
    return { pid: parsed.pid as number, ...(typeof parsed.url === 'string' ? { url: parsed.url } : {}) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live node process other than this one: pids are reused, so its command line is checked. */
function isLiveNodeProcess(pid: number): boolean {
  if (pid <= 0 || pid === process.pid) return false;
  try {
    return basename(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!).startsWith('node');
  } catch {
    if (existsSync('/proc/self')) return false;
    // Without /proc, a live pid is the only evidence there is.
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
}

/** `path` relative to the working folder when it lies inside it (as a user would type it). */
function displayPath(path: string): string {
  const relativePath = relative(process.cwd(), resolve(path));
  return relativePath && !relativePath.startsWith('..') && !isAbsolute(relativePath) ? relativePath : resolve(path);
}
