// A supervised pool of sandbox processes: jobs go to the least busy process; a process that
// crashes, aborts or stops answering is killed and respawned, and the runs it held are retried
// alone on a fresh process, so only the run that kills a process twice gets an error result, and a
// run that shared a process with the culprit is executed at most twice (once more, alone).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { checkOutcome } from './outcome.ts';
import { SandboxLostError, type SandboxJob, type SandboxOutcome, type SandboxRunner } from './runner.ts';
import { forkSandboxProcess, trySend } from './sandbox-process.ts';

export type ParentMessage = { type: 'run'; id: number; job: Omit<SandboxJob, 'fetch'> };
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; outcome: SandboxOutcome }
  | { type: 'lost' | 'error'; id: number; message: string };

export interface SandboxPoolOptions {
  /** Number of sandbox processes. */
  readonly size: number;
  readonly maxRunsPerIsolate?: number;
  readonly heapRecycleRatio?: number;
  /** Time past a run's own deadline after which its process counts as hung (ms). */
  readonly graceMs?: number;
  /** Called with the reason whenever a process is replaced (metrics, logs). */
  readonly onRestart?: (reason: string) => void;
  /** Called with the byte count whenever a process writes to stderr (never its text: it may quote user values). */
  readonly onStderrBytes?: (bytes: number) => void;
}

interface PendingRun {
  readonly id: number;
  readonly job: Omit<SandboxJob, 'fetch'>;
  /** Set after the run was on a process that died: it then runs alone. */
  isSolo: boolean;
  resolve(outcome: SandboxOutcome): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

interface Worker {
  readonly child: ChildProcess;
  readonly inFlight: Map<number, PendingRun>;
  isReady: boolean;
  isDead: boolean;
}

const CHILD_SCRIPT = join(import.meta.dirname, 'pool-child.ts');

/** Starts `size` sandbox processes; the returned runner has the in-process runner's contract. */
export function createSandboxPool(options: SandboxPoolOptions): SandboxRunner & { processIds(): number[] } {
  const graceMs = options.graceMs ?? 1000;
  const workers: Worker[] = [];
  const queue: PendingRun[] = [];
  const counts = { runs: 0, restarts: 0 };
  let nextId = 1;
  let isClosed = false;

  function spawnWorker(): Worker {
    const child = forkSandboxProcess(CHILD_SCRIPT, [String(options.maxRunsPerIsolate ?? ''), String(options.heapRecycleRatio ?? '')], options.onStderrBytes);
    const worker: Worker = { child, inFlight: new Map(), isReady: false, isDead: false };
    child.on('message', (message: unknown) => onMessage(worker, message));
    child.on('exit', (code, signal) => onExit(worker, signal ? `signal ${signal}` : `exit code ${code}`));
    workers.push(worker);
    return worker;
  }

  // A sandbox process runs user code: what it says is re-checked like anything else from outside.
  function onMessage(worker: Worker, raw: unknown): void {
    const message = (typeof raw === 'object' && raw !== null ? raw : {}) as { type?: unknown; id?: unknown; message?: unknown; outcome?: { durationMs?: unknown } };
    if (message.type === 'ready') {
      worker.isReady = true;
      return pump();
    }
    const run = typeof message.id === 'number' ? worker.inFlight.get(message.id) : undefined;
    if (!run) return;
    settle(worker, run);
    const text = typeof message.message === 'string' ? message.message.slice(0, 500) : 'no message';
    if (message.type === 'result') run.resolve(checkOutcome(message.outcome, run.job.limits, Number(message.outcome?.durationMs) || 0));
    else if (message.type === 'lost') run.reject(new SandboxLostError(text));
    else run.reject(new Error(text));
    pump();
  }

  function settle(worker: Worker, run: PendingRun): void {
    clearTimeout(run.timer);
    worker.inFlight.delete(run.id);
  }

  function onExit(worker: Worker, reason: string, culprit?: PendingRun): void {
    if (worker.isDead) return;
    worker.isDead = true;
    workers.splice(workers.indexOf(worker), 1);
    const runs = [...worker.inFlight.values()];
    worker.inFlight.clear();
    for (const run of runs) {
      clearTimeout(run.timer);
      if (run === culprit) run.resolve(failure(run, `timed out after ${run.job.limits.timeoutMs} ms (the sandbox process stopped answering)`));
      else if (isClosed) run.reject(new SandboxLostError('the sandbox pool is closed'));
      // Alone on a process and it still died: this run is the cause, and the answer is an error.
      else if (run.isSolo || runs.length === 1) run.resolve(failure(run, `the sandbox process crashed (${reason})`));
      else {
        run.isSolo = true;
        queue.unshift(run);
      }
    }
    if (isClosed) return;
    counts.restarts++;
    options.onRestart?.(reason);
    spawnWorker();
    pump();
  }

  function failure(run: PendingRun, error: string): SandboxOutcome {
    return { ok: false, error, logs: [], durationMs: 0 };
  }

  function dispatch(worker: Worker, run: PendingRun): void {
    worker.inFlight.set(run.id, run);
    counts.runs++;
    // The process enforces the deadline itself; past it plus a grace, the process is hung.
    run.timer = setTimeout(() => {
      worker.child.kill('SIGKILL');
      onExit(worker, 'hung', run);
    }, run.job.limits.timeoutMs + graceMs);
    // A job that cannot be sent means a broken channel: the process is replaced and the run retried.
    const fail = () => {
      worker.child.kill('SIGKILL');
      onExit(worker, 'ipc error');
    };
    if (!trySend(worker.child, { type: 'run', id: run.id, job: run.job } satisfies ParentMessage, fail)) fail();
  }

  function pump(): void {
    while (queue.length > 0) {
      const run = queue[0];
      const ready = workers.filter((w) => w.isReady && !w.isDead && ![...w.inFlight.values()].some((r) => r.isSolo));
      const candidates = run.isSolo ? ready.filter((w) => w.inFlight.size === 0) : ready;
      if (candidates.length === 0) return;
      const worker = candidates.reduce((best, w) => (w.inFlight.size < best.inFlight.size ? w : best));
      queue.shift();
      dispatch(worker, run);
    }
  }

  for (let i = 0; i < options.size; i++) spawnWorker();

  return {
    run(job) {
      if (isClosed) return Promise.reject(new Error('the sandbox pool is closed'));
      const { fetch: _hostOnly, ...data } = job;
      return new Promise<SandboxOutcome>((resolve, reject) => {
        queue.push({ id: nextId++, job: data, isSolo: false, resolve, reject });
        pump();
      });
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      for (const run of queue.splice(0)) run.reject(new SandboxLostError('the sandbox pool is closed'));
      await Promise.all(workers.map((worker) => new Promise<void>((resolve) => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return resolve();
        const timer = setTimeout(() => worker.child.kill('SIGKILL'), 2000);
        worker.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        worker.child.disconnect();
      })));
    },
    stats: () => ({ processes: workers.length, runs: counts.runs, restarts: counts.restarts, queued: queue.length }),
    processIds: () => workers.filter((w) => !w.isDead).map((w) => w.child.pid!),
  };
}
