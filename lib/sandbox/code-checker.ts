// Upload checks off the serving thread: a few supervised check processes, one check each at a time,
// a host deadline that kills a process whose check runs long, and a bounded queue (429 past it).
import type { ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../errors.ts';
import type { CheckReply, CheckRequest } from './check-child.ts';
import { cutUtf8 } from './outcome.ts';
import { forkSandboxProcess, trySend } from './sandbox-process.ts';

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

interface Checker {
  readonly child: ChildProcess;
  isReady: boolean;
  current?: PendingCheck & { timer: NodeJS.Timeout };
}

const CHILD_SCRIPT = join(import.meta.dirname, 'check-child.ts');
const CHECK_NICENESS = 10;

export function createCodeChecker(options: CodeCheckerOptions): CodeChecker {
  const checkers = new Set<Checker>();
  const queue: PendingCheck[] = [];
  let restarts = 0;
  let nextId = 1;
  let isClosed = false;

  function spawnChecker(): void {
    const child = forkSandboxProcess(CHILD_SCRIPT, [], options.onStderrBytes);
    // A check that spins until its deadline yields the CPU to the API it runs beside.
    try {
      if (child.pid !== undefined) setPriority(child.pid, CHECK_NICENESS);
    } catch {
      // not permitted here: the deadline still bounds it
    }
    const checker: Checker = { child, isReady: false };
    child.on('message', (message: CheckReply) => onReply(checker, message));
    child.once('exit', (code, signal) => replace(checker, signal ? `signal ${signal}` : `exit code ${code}`));
    checkers.add(checker);
  }

  function onReply(checker: Checker, message: CheckReply): void {
    if (message?.type === 'ready') {
      checker.isReady = true;
      return pump();
    }
    const current = checker.current;
    if (message?.type !== 'checked' || !current || message.id !== current.id) return;
    clearTimeout(current.timer);
    checker.current = undefined;
    if (message.ok === true) current.resolve();
    else current.reject(new GatewayError('invalid_code', cutUtf8(typeof message.message === 'string' ? message.message : 'the code is not valid')));
    pump();
  }

  // The process died or was killed: the check it held is the cause (one check per process).
  function replace(checker: Checker, reason: string, error?: GatewayError): void {
    if (!checkers.delete(checker)) return;
    const current = checker.current;
    checker.current = undefined;
    if (current) {
      clearTimeout(current.timer);
      current.reject(error ?? new GatewayError('invalid_code', `the code check stopped its process (${reason})`));
    }
    if (isClosed) return;
    restarts++;
    options.onRestart?.(reason);
    spawnChecker();
  }

  function pump(): void {
    for (const checker of checkers) {
      if (queue.length === 0) return;
      if (!checker.isReady || checker.current) continue;
      const check = queue.shift()!;
      const timer = setTimeout(() => {
        checker.child.kill('SIGKILL');
        replace(checker, 'deadline', new GatewayError('invalid_code', `the code check did not finish within ${options.timeoutMs} ms (top-level code, or a value it threw, kept running)`));
      }, options.timeoutMs);
      checker.current = { ...check, timer };
      const broken = () => {
        checker.child.kill('SIGKILL');
        replace(checker, 'ipc error', new GatewayError('unavailable', 'the code checker is restarting; retry shortly', { retryAfterSeconds: 1 }));
      };
      if (!trySend(checker.child, { type: 'check', id: check.id, code: check.code } satisfies CheckRequest, broken)) broken();
    }
  }

  for (let i = 0; i < options.processes; i++) spawnChecker();

  return {
    check(code) {
      if (isClosed) return Promise.reject(new GatewayError('unavailable', 'the code checker is stopped'));
      const hasIdleChecker = [...checkers].some((c) => c.isReady && !c.current);
      if (queue.length >= options.maxQueued && !hasIdleChecker) {
        return Promise.reject(new GatewayError('rate_limited', `more than ${options.maxQueued} code uploads are waiting for a check; retry shortly`, { retryAfterSeconds: 1 }));
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ id: nextId++, code, resolve, reject });
        pump();
      });
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      for (const check of queue.splice(0)) check.reject(new GatewayError('unavailable', 'the code checker is stopped'));
      await Promise.all([...checkers].map((checker) => new Promise<void>((resolve) => {
        if (checker.child.exitCode !== null || checker.child.signalCode !== null) return resolve();
        checker.child.once('exit', () => resolve());
        checker.child.kill('SIGKILL');
      })));
    },
    stats: () => ({ processes: checkers.size, queued: queue.length, checking: [...checkers].filter((c) => c.current).length, restarts }),
  };
}
