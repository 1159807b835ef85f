// A supervised pool of sandbox processes: jobs go to the least busy process; a process that
// crashes, aborts or stops answering is killed and respawned, and the runs it held are retried
// alone on a fresh process, so only the run that kills a process twice gets an error result, and a
// run that shared a process with the culprit is executed at most twice (once more, alone).
// Code text crosses to a process once: each distinct (code key, code text) gets a code id, and a
// process keeps the texts it was sent by id (bounded); a process that no longer has one says so.
import { join } from 'node:path';
import { createLruMap, type LruMap } from './lru-map.ts';
import { checkOutcome, failedOutcome, parseEnvelope } from './outcome.ts';
import { SandboxLostError, type SandboxJob, type SandboxOutcome, type SandboxRunner } from './runner.ts';
import { createSupervisor, type Supervised, type Supervisor } from './supervised-process.ts';

/** A job as it crosses to a sandbox process: its code by id, with the text only when the process may not have it. */
export type WireJob = Omit<SandboxJob, 'fetch' | 'code' | 'codeKey'>;
export type ParentMessage = { type: 'run'; id: number; codeId: number; code?: string; job: WireJob };
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; outcome: SandboxOutcome }
  | { type: 'envelope'; id: number; envelope: string; durationMs: number }
  | { type: 'unknown-code'; id: number }
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
  /** Code texts each process keeps (least recently used go first); default 128. */
  readonly maxCodesPerProcess?: number;
}

/** One code text the pool has given an id. */
interface KnownCode {
  readonly id: number;
  readonly code: string;
}

interface PendingRun {
  readonly id: number;
  readonly code: KnownCode;
  readonly job: WireJob;
  /** Set after the run was on a process that died: it then runs alone. */
  isSolo: boolean;
  /** Set when its process was killed for passing this run's deadline: this run is the culprit. */
  isHung?: boolean;
  /** Set when its process asked for the code text again. */
  isCodeResent?: boolean;
  resolve(outcome: SandboxOutcome): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

interface WorkerState {
  readonly inFlight: Map<number, PendingRun>;
  /** Code ids this process was sent (it may have dropped some since: it then answers unknown-code). */
  readonly codeIds: Set<number>;
}

type Worker = Supervised<WorkerState>;

interface Pool {
  readonly graceMs: number;
  readonly queue: PendingRun[];
  readonly workers: Supervisor<WorkerState>;
  /** Code ids by code key: a key seen with other text gets a new id, so a process never runs one text under another's id. */
  readonly codes: LruMap<string, KnownCode>;
  runs: number;
  nextId: number;
  nextCodeId: number;
  /** Times a code text was sent to a process. */
  codeSends: number;
}

const CHILD_SCRIPT = join(import.meta.dirname, 'pool-child.ts');
const DEFAULT_CODES_PER_PROCESS = 128;
// The pool remembers more codes than a process keeps, so a code a process dropped is still known here.
const MAX_KNOWN_CODES = 256;
const MAX_KNOWN_CODE_CHARS = 64 * 2 ** 20;

/** Starts `size` sandbox processes; the returned runner has the in-process runner's contract. */
export function createSandboxPool(options: SandboxPoolOptions): SandboxRunner & { processIds(): number[] } {
  const pool: Pool = {
    graceMs: options.graceMs ?? 1000,
    queue: [],
    runs: 0,
    nextId: 1,
    nextCodeId: 1,
    codeSends: 0,
    codes: createLruMap({
      maxEntries: MAX_KNOWN_CODES,
      maxBytes: MAX_KNOWN_CODE_CHARS,
      sizeOf: (known) => known.code.length,
      // An id no longer known here is never sent again: no process needs to be told it has it.
      onEvict: (_key, known) => {
        for (const worker of pool.workers.processes) worker.codeIds.delete(known.id);
      },
    }),
    workers: createSupervisor({
      script: CHILD_SCRIPT,
      args: [String(options.maxRunsPerIsolate ?? ''), String(options.heapRecycleRatio ?? ''), String(options.maxCodesPerProcess ?? DEFAULT_CODES_PER_PROCESS)],
      size: options.size,
      closeBy: 'disconnect',
      createState: (): WorkerState => ({ inFlight: new Map(), codeIds: new Set() }),
      onReady: () => pump(pool),
      onMessage: (worker, message) => onMessage(pool, worker, message),
      onExit: (worker, reason) => onExit(pool, worker, reason),
      onRestart: options.onRestart,
      onStderrBytes: options.onStderrBytes,
    }),
  };
  return {
    run: (job) => enqueue(pool, job),
    close: () => close(pool),
    stats: () => ({ processes: pool.workers.processes.size, runs: pool.runs, restarts: pool.workers.restarts, queued: pool.queue.length, codeSends: pool.codeSends }),
    processIds: () => [...pool.workers.processes].map((w) => w.child.pid!),
  };
}

function enqueue(pool: Pool, job: SandboxJob): Promise<SandboxOutcome> {
  if (pool.workers.isClosed) return Promise.reject(new Error('the sandbox pool is closed'));
  const { fetch: _hostOnly, code: _byId, codeKey: _alsoById, ...data } = job;
  const code = knownCode(pool, job);
  return new Promise<SandboxOutcome>((resolve, reject) => {
    pool.queue.push({ id: pool.nextId++, code, job: data, isSolo: false, resolve, reject });
    pump(pool);
  });
}

// The id of this exact code text: the executor hands the same string for a content id, so the
// comparison is usually by reference; other text under a known key gets a new id.
function knownCode(pool: Pool, job: SandboxJob): KnownCode {
  const known = pool.codes.get(job.codeKey);
  if (known?.code === job.code) return known;
  const fresh = { id: pool.nextCodeId++, code: job.code };
  pool.codes.set(job.codeKey, fresh);
  return fresh;
}

// Idempotent: after the first call the queue stays empty, as run() refuses new jobs.
function close(pool: Pool): Promise<void> {
  for (const run of pool.queue.splice(0)) run.reject(new SandboxLostError('the sandbox pool is closed'));
  return pool.workers.close();
}

// A sandbox process runs user code: what it says is re-checked like anything else from outside.
function onMessage(pool: Pool, worker: Worker, raw: unknown): void {
  const message = (typeof raw === 'object' && raw !== null ? raw : {}) as { type?: unknown; id?: unknown; message?: unknown; outcome?: { durationMs?: unknown }; envelope?: unknown; durationMs?: unknown };
  const run = typeof message.id === 'number' ? worker.inFlight.get(message.id) : undefined;
  if (!run) return;
  if (message.type === 'unknown-code') {
    // A process keeps what it was just sent: asking twice for one run is a broken process.
    if (run.isCodeResent) return pool.workers.kill(worker, 'protocol error');
    // It dropped the code since it was sent: the run stays on it (and under its deadline), now with the text.
    run.isCodeResent = true;
    worker.codeIds.delete(run.code.id);
    return send(pool, worker, run);
  }
  clearTimeout(run.timer);
  worker.inFlight.delete(run.id);
  const text = typeof message.message === 'string' ? message.message.slice(0, 500) : 'no message';
  if (message.type === 'envelope') run.resolve(parseEnvelope(message.envelope, run.job.limits, Number(message.durationMs) || 0));
  else if (message.type === 'result') run.resolve(checkOutcome(message.outcome, run.job.limits, Number(message.outcome?.durationMs) || 0));
  else if (message.type === 'lost') run.reject(new SandboxLostError(text));
  else run.reject(new Error(text));
  pump(pool);
}

// The process is gone (the supervisor replaces it after this): settle or requeue every run it held.
function onExit(pool: Pool, worker: Worker, reason: string): void {
  const runs = [...worker.inFlight.values()];
  worker.inFlight.clear();
  for (const run of runs) {
    clearTimeout(run.timer);
    if (run.isHung) run.resolve(failedOutcome(`timed out after ${run.job.limits.timeoutMs} ms (the sandbox process stopped answering)`, 0));
    else if (pool.workers.isClosed) run.reject(new SandboxLostError('the sandbox pool is closed'));
    // Alone on a process and it still died: this run is the cause, and the answer is an error.
    else if (run.isSolo || runs.length === 1) run.resolve(failedOutcome(`the sandbox process crashed (${reason})`, 0));
    else {
      run.isSolo = true;
      pool.queue.unshift(run);
    }
  }
  pump(pool);
}

function pump(pool: Pool): void {
  while (pool.queue.length > 0) {
    const run = pool.queue[0];
    const ready = [...pool.workers.processes].filter((w) => w.isReady && ![...w.inFlight.values()].some((r) => r.isSolo));
    const candidates = run.isSolo ? ready.filter((w) => w.inFlight.size === 0) : ready;
    if (candidates.length === 0) return;
    const worker = candidates.reduce((best, w) => (w.inFlight.size < best.inFlight.size ? w : best));
    pool.queue.shift();
    dispatch(pool, worker, run);
  }
}

function dispatch(pool: Pool, worker: Worker, run: PendingRun): void {
  worker.inFlight.set(run.id, run);
  pool.runs++;
  // The process enforces the deadline itself; past it plus a grace, the process is hung.
  run.timer = setTimeout(() => {
    run.isHung = true;
    pool.workers.kill(worker, 'hung');
  }, run.job.limits.timeoutMs + pool.graceMs);
  send(pool, worker, run);
}

// A job that cannot be sent means a broken channel: the process is replaced and the run retried.
function send(pool: Pool, worker: Worker, run: PendingRun): void {
  const { id, code } = run.code;
  const hasCode = worker.codeIds.has(id);
  if (!hasCode) {
    worker.codeIds.add(id);
    pool.codeSends++;
  }
  pool.workers.send(worker, { type: 'run', id: run.id, codeId: id, code: hasCode ? undefined : code, job: run.job } satisfies ParentMessage);
}
