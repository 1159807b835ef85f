// CPU time and context switches of processes, read from /proc from the outside: the measured programs need no hook.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Stat { pid: number; ppid: number; comm: string; ticks: number; minorFaults: number }

/** `/proc/<pid>/stat`: comm in parentheses (may hold spaces), then state, ppid, …, minflt (10), cminflt, …, utime (14), stime, cutime, cstime (17). */
function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state); field n is fields[n - 3]. Children reaped by a member count through cutime/cstime.
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  const minorFaults = Number(fields[7]) + Number(fields[8]);
  return { pid, ppid: Number(fields[1]), comm: text.slice(text.indexOf('(') + 1, close), ticks, minorFaults };
}

/** Every process's stat (`ticks`: user + system CPU, `minorFaults`: page faults served without I/O; both with reaped children, CPU in clock ticks). */
export function readAllStats(): Stat[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map((name) => readStat(Number(name))).filter((s) => s !== null);
}

/**
 * Context switches so far of every live thread of `pid` (voluntary and not); 0 once it is gone.
 * Linux keeps them per thread, so a thread that ends between two reads takes its count with it (the
 * roles' threads live as long as their process: V8's, libuv's, isolated-vm's pool).
 */
export function readSwitches(pid: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let switches = 0;
  for (const task of tasks) {
    try {
      for (const match of readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8').matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) switches += Number(match[1]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return switches;
}

/** Clock ticks as CPU ms. */
export const ticksToMs = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;

/**
 * CPU ms (user + system, with reaped children) used so far by the processes rooted at `rootPids` and
 * all their descendants, except redis-server processes (Redis is measured on its own, with INFO).
 */
export function readTreeCpuMs(rootPids: readonly number[]): number {
  const stats = readAllStats();
  const children = new Map<number, Stat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  let ticks = 0;
  const visit = (stat: Stat | undefined) => {
    if (!stat || stat.comm === 'redis-server') return;
    ticks += stat.ticks;
    for (const child of children.get(stat.pid) ?? []) visit(child);
  };
  for (const pid of rootPids) visit(byPid.get(pid));
  return ticksToMs(ticks);
}

/** The 1, 5 and 15 minute load averages, as `uptime` prints them. */
export function readLoadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
