// One gateway per data folder: `npm start` claims `<dataDir>/gateway.pid` before it touches any other
// file there, and a second start finds the running one instead of stopping its Redis.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GatewayError } from './errors.ts';

/**
 * Writes `<dataDir>/gateway.pid` (`{pid, url}`) for this process, removed when it exits. Throws
 * GatewayError `unavailable` while the gateway it names still runs; a file left by one that is gone
 * is taken over, and so is its redis-server (startEmbeddedRedis stops it).
 */
export function claimDataDir(dataDir: string): { setUrl(url: string): void } {
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
