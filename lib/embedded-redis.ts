// A private redis-server child process: the `npm start` default and the test harness's Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { GatewayError } from './errors.ts';

export interface EmbeddedRedis {
  /** `redis://[:password@]127.0.0.1:<port>`: a secret when it carries the password; never print it. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the server by pid (SIGTERM, then SIGKILL after `graceMs`); idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** Data folder (created if missing). */
  readonly dir: string;
  /** 0 (default) picks a free loopback port. */
  readonly port?: number;
  /**
   * Persistence as `npm start` ships it (`PERSISTENT_REDIS_ARGS`): every write in the AOF and on disk
   * before Redis answers it; tests run without it.
   */
  readonly appendOnly?: boolean;
  /** `requirepass` (unset or empty: none), handed over on stdin so it never shows in `ps`; `url` carries it. */
  readonly password?: string;
  /**
   * An ACL file (`aclfile`) holding every user, the default user with `password` among them (then no
   * `requirepass` is set); `ACL SAVE` writes users added at run time back to it.
   */
  readonly aclFile?: string;
  readonly startTimeoutMs?: number;
}

/**
 * "Accepted means persisted": the AOF with `appendfsync always`. Redis writes and fsyncs the AOF
 * before it sends the replies of the commands in it (one fsync for everything an event-loop turn
 * wrote), so a 202, given after the request's write was answered, survives a kill -9 of Redis and a
 * power loss. `everysec` would lose up to a second or two (it may postpone the write while a slow
 * fsync runs); RDB snapshots are off (`--save ''`): the AOF alone is the record. The chart's Redis
 * runs with the same two settings (deploy/helm/gateway/templates/redis.yaml).
 */
export const PERSISTENT_REDIS_ARGS: readonly string[] = ['--appendonly', 'yes', '--appendfsync', 'always'];

/** Asks the kernel for a free loopback port. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts `redis-server` from PATH bound to 127.0.0.1 and resolves once it accepts connections.
 * A redis-server still running on `dir` (pid file) is stopped first: the caller makes sure no live
 * process uses it (`npm start` holds the data folder's gateway pid file).
 * Throws GatewayError `unavailable` with install advice when redis-server is not on PATH.
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  mkdirSync(options.dir, { recursive: true });
  const pidFile = join(options.dir, 'gateway-redis.pid');
  await stopLeftover(pidFile);
  const port = options.port || (await findFreePort());
  // `-` first: the rest of the configuration (the password) is read from stdin, not argv.
  const args = [
    '-', '--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir, '--save', '',
    ...(options.appendOnly ? PERSISTENT_REDIS_ARGS : ['--appendonly', 'no']), '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'yes', '--logfile', '', '--loglevel', 'notice',
  ];
  // Its own process group: Ctrl-C in a terminal reaches the gateway, which stops Redis last. Files it
  // creates (AOF, the ACL file on ACL SAVE) are for its owner only.
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn('redis-server', args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  } finally {
    process.umask(umask);
  }
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.aclFile ? `aclfile ${quoteConfigValue(options.aclFile)}\n`
    : options.password ? `requirepass ${quoteConfigValue(options.password)}\n` : '');
  await waitForReady(child, options.startTimeoutMs ?? 10_000);
  writeFileSync(pidFile, String(child.pid));
  let stopped: Promise<void> | undefined;
  return {
    url: `redis://${options.password ? `:${encodeURIComponent(options.password)}@` : ''}127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stop(graceMs = 5000) {
      stopped ??= stopChild(child, graceMs).then(() => rmSync(pidFile, { force: true }));
      return stopped;
    },
  };
}

/** A redis.conf string literal: every byte but letters and digits as a `\xHH` escape. */
export function quoteConfigValue(value: string): string {
  const escaped = [...Buffer.from(value, 'utf8')].map((byte) => {
    const char = String.fromCharCode(byte);
    return /[A-Za-z0-9]/.test(char) ? char : `\\x${byte.toString(16).padStart(2, '0')}`;
  });
  return `"${escaped.join('')}"`;
}

/** Resolves once a redis-server child says it is ready; kills it and rejects when it exits first or `timeoutMs` passes. */
export function waitForReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis-server did not start within ${timeoutMs} ms: ${output.slice(-500)}`)), timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        child.stderr!.resume();
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT'
        ? new GatewayError('unavailable', 'redis-server was not found on PATH. Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a Redis you run.')
        : error);
    });
    child.once('exit', (code) => fail(new Error(`redis-server exited with code ${code}: ${output.slice(-500)}`)));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child exited. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A redis-server left running on this data folder by a gateway that was killed: stop it first. */
async function stopLeftover(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1 || !isRedisServer(pid)) return rmSync(pidFile, { force: true });
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && isRedisServer(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
  rmSync(pidFile, { force: true });
}

function isRedisServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server');
  } catch {
    // Without /proc the pid cannot be confirmed as ours: leave whatever process has it alone.
    return false;
  }
}
