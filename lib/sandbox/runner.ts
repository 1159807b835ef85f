// Runs user code in warm isolates (one per code and memory limit), a fresh context per run, under a host wall-clock deadline.
import ivm from 'isolated-vm';
import type { JsonValue } from '../crypto/canonical-json.ts';
import { fromHex } from '../crypto/bytes.ts';
import { isGatewayError } from '../errors.ts';
import { BOOTSTRAP_SOURCE, type BootstrapConfig, type InvokeResult } from './bootstrap.ts';
import { createGuardedFetch, type FetchPolicy } from './guarded-fetch.ts';
import { type CodeCache, loadUserCode, messageOf, NO_ENTRY_MESSAGE, releaseAll, TIMED_OUT } from './compile.ts';

/** Per-run limits: wall clock (ms) over compile, evaluation and the awaited result; heap (MB); result and log caps. */
export interface SandboxLimits {
  timeoutMs: number;
  /** Time the code may run synchronously without yielding (isolated-vm's own timeout); defaults to timeoutMs. */
  cpuMs?: number;
  memoryMb: number;
  maxOutputBytes: number;
  maxLogLines: number;
  maxLogBytes: number;
}

/** What the user function sees as `ctx` (besides `log` and `fetch`). `seed` is 64 hex characters. */
export interface SandboxContext {
  requestId: string;
  projectId: string;
  round: number;
  seed: string;
  acceptedAtMs: number;
  secrets: Record<string, string>;
}

export type SandboxFetch = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<{ status: number; headers: Record<string, string>; body: string }>;

export interface SandboxJob {
  /** Cache key of the code, e.g. its content id: runs with the same key and memory limit share an isolate. */
  codeKey: string;
  code: string;
  /** A JSON value; the function receives a copy. */
  input: unknown;
  context: SandboxContext;
  limits: SandboxLimits;
  /** The host fetch; when absent, `ctx.fetch` rejects with Error('fetch is not available'). */
  fetch?: SandboxFetch;
  /** Data form of the fetch (what crosses to a pool process): a guarded fetch is built from it per run. */
  fetchPolicy?: FetchPolicy;
}

export type SandboxOutcome =
  | { ok: true; value: JsonValue; logs: string[]; durationMs: number }
  | { ok: false; error: string; logs: string[]; durationMs: number };

export interface SandboxRunner {
  /** Runs one job. Resolves to the user code's outcome; throws SandboxLostError when the run must be retried. */
  run(job: SandboxJob): Promise<SandboxOutcome>;
  /** Disposes every isolate; runs in flight throw SandboxLostError. Idempotent. */
  close(): Promise<void>;
  /** Counters for metrics and tests (the in-process runner: isolates, runs, recycled). */
  stats(): Readonly<Record<string, number>>;
}

/** A run lost through no fault of its own code (another run killed the shared isolate, or close()); retry it. */
export class SandboxLostError extends Error {
  override readonly name = 'SandboxLostError';
}

interface IsolateEntry {
  readonly key: string;
  readonly isolate: ivm.Isolate;
  readonly memoryBytes: number;
  readonly code: CodeCache;
  runs: number;
  inFlight: number;
  isRetiring: boolean;
  death?: Death;
}

// Why an isolate was disposed under runs: one run's timeout or memory kill (the others are lost), or close().
interface Death {
  readonly runId: number;
  readonly cause: 'timeout' | 'cpu' | 'memory' | 'closed';
}

// One run on an entry: its handles (released in reverse), its context and entry function, and a way to fail it.
interface RunState {
  readonly id: number;
  readonly handles: Array<{ release(): void }>;
  context?: ivm.Context;
  invoke?: ivm.Reference;
  isDone: boolean;
  hasStartedCode: boolean;
  fail(error: unknown): void;
}

const CLOSED: Death = { runId: -1, cause: 'closed' };
const MAX_ISOLATES = 64;
const MEMORY_LIMIT = 'Isolate was disposed during execution due to memory limit';

/**
 * Creates a runner. An isolate is recycled after `maxRunsPerIsolate` runs (default 500) or once
 * its used heap passes `heapRecycleRatio` (default 0.6) of its memory limit, when no run is in
 * flight on it; at most 64 isolates stay warm (least recently used go first).
 */
export function createSandboxRunner(options: { maxRunsPerIsolate?: number; heapRecycleRatio?: number } = {}): SandboxRunner {
  const maxRuns = options.maxRunsPerIsolate ?? 500;
  const heapRatio = options.heapRecycleRatio ?? 0.6;
  const warm = new Map<string, IsolateEntry>();
  const live = new Set<IsolateEntry>();
  const counts = { runs: 0, recycled: 0 };
  let isClosed = false;

  const dispose = (entry: IsolateEntry, death?: Death): void => {
    entry.death ??= death;
    if (warm.get(entry.key) === entry) warm.delete(entry.key);
    if (live.delete(entry) && !entry.isolate.isDisposed) entry.isolate.dispose();
  };

  const retire = (entry: IsolateEntry): void => {
    entry.isRetiring = true;
    if (warm.get(entry.key) === entry) warm.delete(entry.key);
    if (entry.inFlight === 0 && live.has(entry)) {
      counts.recycled++;
      dispose(entry);
    }
  };

  const acquire = (limits: SandboxLimits, codeKey: string): IsolateEntry => {
    const key = `${limits.memoryMb}:${codeKey}`;
    let entry = warm.get(key);
    if (entry) warm.delete(key);
    if (!entry || entry.isolate.isDisposed) {
      if (entry) dispose(entry, CLOSED);
      const isolate = new ivm.Isolate({ memoryLimit: limits.memoryMb });
      entry = { key, isolate, memoryBytes: limits.memoryMb * 2 ** 20, code: {}, runs: 0, inFlight: 0, isRetiring: false };
      live.add(entry);
    }
    warm.set(key, entry);
    for (const oldest of warm.values()) {
      if (warm.size <= MAX_ISOLATES) break;
      retire(oldest);
    }
    entry.runs++;
    entry.inFlight++;
    counts.runs++;
    if (entry.runs >= maxRuns) retire(entry);
    return entry;
  };

  const release = (entry: IsolateEntry): void => {
    entry.inFlight--;
    if (entry.inFlight > 0 || !live.has(entry)) return;
    if (entry.isolate.isDisposed) return dispose(entry, CLOSED);
    try {
      // Nothing runs in it now, so this synchronous call cannot wait behind user code.
      if (entry.isolate.getHeapStatisticsSync().used_heap_size > heapRatio * entry.memoryBytes) entry.isRetiring = true;
    } catch {
      entry.isRetiring = true; // a stray rejection surfaced in this task: start over clean
    }
    if (entry.isRetiring) retire(entry);
  };

  const run = async (job: SandboxJob): Promise<SandboxOutcome> => {
    if (isClosed) throw new Error('the sandbox runner is closed');
    const startedMs = performance.now();
    const { timeoutMs, memoryMb, maxOutputBytes } = job.limits;
    const cpuMs = Math.min(job.limits.cpuMs ?? timeoutMs, timeoutMs);
    const failed = (error: string, logs: string[] = []): SandboxOutcome => ({ ok: false, error, logs, durationMs: performance.now() - startedMs });
    const entry = acquire(job.limits, job.codeKey);
    const state: RunState = { id: entry.runs, handles: [], isDone: false, hasStartedCode: false, fail: () => undefined };
    let timer: NodeJS.Timeout | undefined;
    // Settles first when the deadline passes or a fetch continuation fails.
    const ending = new Promise<'timeout'>((resolve, reject) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      state.fail = reject;
    });
    try {
      const work = execute(entry, job, state);
      work.catch(() => undefined); // settled later by the disposal when `ending` wins the race
      const result = await Promise.race([work, ending]);
      if (result === 'timeout') {
        // A run still queued behind others has run none of its code: it just stops (see execute).
        if (state.hasStartedCode) dispose(entry, { runId: state.id, cause: 'timeout' });
        return failed(`timed out after ${timeoutMs} ms`);
      }
      const logs = JSON.parse(result.logs) as string[];
      if (result.json === undefined) return failed(result.error ?? 'no result', logs);
      if (Buffer.byteLength(result.json, 'utf8') > maxOutputBytes) return failed(`result exceeds ${maxOutputBytes} bytes`, logs);
      return { ok: true, value: JSON.parse(result.json) as JsonValue, logs, durationMs: performance.now() - startedMs };
    } catch (error) {
      if (isGatewayError(error, 'invalid_code')) return failed(`invalid code: ${error.message}`);
      const message = messageOf(error);
      if (!entry.isolate.isDisposed && message !== TIMED_OUT) return failed(message);
      // isolated-vm's own timeout may leave the interrupted run's microtasks queued: never reuse that isolate.
      if (!entry.isolate.isDisposed) dispose(entry, { runId: state.id, cause: cpuMs < timeoutMs ? 'cpu' : 'timeout' });
      // isolated-vm disposes an isolate by itself only at the memory limit, failing the task it was running.
      if (message === MEMORY_LIMIT) dispose(entry, { runId: state.id, cause: 'memory' });
      const death = entry.death;
      if (death?.runId !== state.id) throw new SandboxLostError(`the isolate was lost (${death?.cause ?? 'memory'} of another run)`, { cause: error });
      if (death.cause === 'cpu') return failed(`CPU time limit of ${cpuMs} ms exceeded`);
      return failed(death.cause === 'timeout' ? `timed out after ${timeoutMs} ms` : `memory limit of ${memoryMb} MB exceeded`);
    } finally {
      state.isDone = true;
      clearTimeout(timer);
      releaseAll(state.handles);
      release(entry);
    }
  };

  return {
    run,
    close: async () => {
      isClosed = true;
      for (const entry of [...live]) dispose(entry, CLOSED);
    },
    stats: () => ({ isolates: live.size, runs: counts.runs, recycled: counts.recycled }),
  };
}

// Creates the context, bootstraps it, loads the code and invokes the entry; every handle lands in state.handles.
async function execute(entry: IsolateEntry, job: SandboxJob, state: RunState): Promise<InvokeResult> {
  const { isolate } = entry;
  // A handle that arrives after the run ended is released at once, and the run goes no further.
  const keep = <T extends { release(): void }>(handle: T): T => {
    if (state.isDone) {
      releaseAll([handle]);
      throw new Error('the run ended before its code started');
    }
    state.handles.push(handle);
    return handle;
  };
  const context = (state.context = keep(await isolate.createContext()));
  const fetch = job.fetch ?? (job.fetchPolicy ? createGuardedFetch(job.fetchPolicy) : undefined);
  const fetchRef = fetch ? keep(new ivm.Reference(bridgeFetch(fetch, job.limits.timeoutMs, state))) : undefined;
  const cpuMs = Math.min(job.limits.cpuMs ?? job.limits.timeoutMs, job.limits.timeoutMs);
  const invoke = (state.invoke = keep(await context.evalClosure(BOOTSTRAP_SOURCE, [configJson(job), fetchRef], { result: { reference: true } })));
  state.hasStartedCode = true;
  const code = keep(await loadUserCode(isolate, context, job.code, entry.code, cpuMs));
  const inputJson = JSON.stringify(job.input ?? null);
  return (await invoke.apply(undefined, [code.namespace?.derefInto(), inputJson], {
    result: { promise: true, copy: true },
    timeout: cpuMs,
  })) as InvokeResult;
}

function configJson(job: SandboxJob): string {
  const seed = fromHex(job.context.seed, 32);
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const config: BootstrapConfig = {
    requestId: job.context.requestId,
    projectId: job.context.projectId,
    round: job.context.round,
    seed: job.context.seed,
    seedWords: Array.from({ length: 8 }, (_, i) => view.getUint32(i * 4)),
    acceptedAtMs: job.context.acceptedAtMs,
    secrets: { ...job.context.secrets },
    maxOutputBytes: job.limits.maxOutputBytes,
    maxLogLines: job.limits.maxLogLines,
    maxLogBytes: job.limits.maxLogBytes,
    noEntryMessage: NO_ENTRY_MESSAGE,
  };
  return JSON.stringify(config);
}

type FetchRequest = { url: string; method?: string; headers?: Record<string, string>; body?: string };

// The isolate calls this with applyIgnored, so it must never reject: a host rejection nobody awaits
// would crash the process. It answers through `invoke.deliver`, a task of this run: a continuation
// that throws, loops or exhausts memory fails this run and no other.
function bridgeFetch(fetch: SandboxFetch, timeoutMs: number, state: RunState) {
  let deliver: ivm.Reference | undefined;
  return async (callId: number, request: FetchRequest): Promise<void> => {
    if (state.isDone) return;
    let reply: { status: number; headers: Record<string, string>; body: string } | { error: string };
    try {
      const response = await fetch(request.url, { method: request.method, headers: request.headers ? { ...request.headers } : undefined, body: request.body });
      reply = { status: response.status, headers: { ...response.headers }, body: response.body };
    } catch (error) {
      reply = { error: error instanceof Error ? error.message : String(error) };
    }
    if (state.isDone) return;
    try {
      if (!deliver) {
        const ref = await state.context!.evalClosure('return $0.deliver', [state.invoke!.derefInto()], { result: { reference: true } });
        if (state.isDone) return ref.release();
        state.handles.push((deliver = ref));
      }
      await deliver.apply(undefined, [callId, reply], { arguments: { copy: true }, timeout: timeoutMs });
    } catch (error) {
      if (!state.isDone) state.fail(error);
    }
  };
}
