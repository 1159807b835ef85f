// Upload checks off the serving thread: a few supervised check processes, one check each at a time,
// a host deadline that kills a process whose check runs long, and a bounded queue (429 past it).
import { join } from 'node:path';
import { GatewayError } from '../errors.ts';
import type { CheckReply, CheckRequest } from './check-child.ts';
import { cutUtf8 } from './outcome.ts';
import { createSupervisor, IPC_ERROR, type Supervised, type Supervisor } from './supervised-process.ts';

export interface CodeCheckerOptions {
  /** Check processes (each checks one upload at a time). */
  readonly processes: number;
  /** Host deadline of one check, from dispatch to answer (ms). */
  readonly timeoutMs: number;
  /** Uploads that may wait for a process; past it, check() throws `rate_limited`. */
  readonly maxQueued: number;
  /** Called with the reason whenever a check process is replaced. */
  readonly onRestart?: (reason: string) => void;
  readonly onStderrBytes?: (bytes: number) => void;
}

export interface CodeChecker {
  /** Resolves when the code compiles, links without imports, runs its top level and has an entry point; else throws GatewayError `invalid_code` (or `rate_limited`). */
  check(code: string): Promise<void>;
  close(): Promise<void>;
  stats(): { processes: number; queued: number; checking: number; restarts: number };
}

interface PendingCheck {
  readonly id: number;
  readonly code: string;
  resolve(): void;
  reject(error: Error): void;
}

interface CheckerState {
  current?: PendingCheck & { timer: NodeJS.Timeout };
}

type Checker = Supervised<CheckerState>;

interface CheckerPool {
  readonly options: CodeCheckerOptions;
  readonly queue: PendingCheck[];
  readonly checkers: Supervisor<CheckerState>;
  nextId: number;
}

const CHILD_SCRIPT = join(import.meta.dirname, 'check-child.ts');
// A check that spins until its deadline yields the CPU to the API it runs beside.
const CHECK_NICENESS = 10;
/** The reason a check process is replaced when its check passed the host deadline. */
const DEADLINE = 'deadline';

/** Starts `processes` check processes; check() queues an upload for the first idle one. */
export function createCodeChecker(options: CodeCheckerOptions): CodeChecker {
  const pool: CheckerPool = {
    options,
    queue: [],
    nextId: 1,
    checkers: createSupervisor({
      script: CHILD_SCRIPT,
      size: options.processes,
      niceness: CHECK_NICENESS,
      closeBy: 'kill',
      createState: (): CheckerState => ({}),
      onReady: () => pump(pool),
      onMessage: (checker, message) => onReply(pool, checker, message as CheckReply | undefined),
      onExit: (checker, reason) => onExit(pool, checker, reason),
      onRestart: options.onRestart,
      onStderrBytes: options.onStderrBytes,
    }),
  };
  return {
    check: (code) => enqueue(pool, code),
    close: () => close(pool),
    stats: () => ({ processes: pool.checkers.processes.size, queued: pool.queue.length, checking: [...pool.checkers.processes].filter((c) => c.current).length, restarts: pool.checkers.restarts }),
  };
}

function enqueue(pool: CheckerPool, code: string): Promise<void> {
  if (pool.checkers.isClosed) return Promise.reject(new GatewayError('unavailable', 'the code checker is stopped'));
  const { maxQueued } = pool.options;
  const hasIdleChecker = [...pool.checkers.processes].some((c) => c.isReady && !c.current);
  if (pool.queue.length >= maxQueued && !hasIdleChecker) {
    return Promise.reject(new GatewayError('rate_limited', `more than ${maxQueued} code uploads are waiting for a check; retry shortly`, { retryAfterSeconds: 1 }));
  }
  return new Promise<void>((resolve, reject) => {
    pool.queue.push({ id: pool.nextId++, code, resolve, reject });
    pump(pool);
  });
}

// Idempotent: after the first call the queue stays empty, as check() refuses new uploads.
function close(pool: CheckerPool): Promise<void> {
  for (const check of pool.queue.splice(0)) check.reject(new GatewayError('unavailable', 'the code checker is stopped'));
  return pool.checkers.close();
}

function onReply(pool: CheckerPool, checker: Checker, message: CheckReply | undefined): void {
  const current = checker.current;
  if (message?.type !== 'checked' || !current || message.id !== current.id) return;
  clearTimeout(current.timer);
  checker.current = undefined;
  if (message.ok === true) current.resolve();
  else current.reject(new GatewayError('invalid_code', cutUtf8(typeof message.message === 'string' ? message.message : 'the code is not valid')));
  pump(pool);
}

// The process died or was killed: the check it held is the cause (one check per process).
function onExit(pool: CheckerPool, checker: Checker, reason: string): void {
  const current = checker.current;
  checker.current = undefined;
  if (!current) return;
  clearTimeout(current.timer);
  if (reason === DEADLINE) current.reject(new GatewayError('invalid_code', `the code check did not finish within ${pool.options.timeoutMs} ms (top-level code, or a value it threw, kept running)`));
  else if (reason === IPC_ERROR) current.reject(new GatewayError('unavailable', 'the code checker is restarting; retry shortly', { retryAfterSeconds: 1 }));
  else current.reject(new GatewayError('invalid_code', `the code check stopped its process (${reason})`));
}

function pump(pool: CheckerPool): void {
  for (const checker of pool.checkers.processes) {
    if (pool.queue.length === 0) return;
    if (checker.isReady && !checker.current) dispatch(pool, checker, pool.queue.shift()!);
  }
}

function dispatch(pool: CheckerPool, checker: Checker, check: PendingCheck): void {
  const timer = setTimeout(() => pool.checkers.kill(checker, DEADLINE), pool.options.timeoutMs);
  checker.current = { ...check, timer };
  pool.checkers.send(checker, { type: 'check', id: check.id, code: check.code } satisfies CheckRequest);
}
