// Runs user code in warm isolates (one run per isolate at a time, recycled), a fresh context per run,
// under a host wall-clock deadline and a CPU budget that spans every slice of the run.
import ivm from 'isolated-vm';
import { fromHex } from '../crypto/bytes.ts';
import { isGatewayError } from '../errors.ts';
import { BOOTSTRAP_SOURCE, type BootstrapConfig, type InvokeResult } from './bootstrap.ts';
import { createGuardedFetch, type FetchPolicy, type SandboxFetch } from './guarded-fetch.ts';
import { loadUserCode, messageOf, NO_ENTRY_MESSAGE, releaseAll, TIMED_OUT } from './compile.ts';
import { createIsolateCache, type IsolateCache, type IsolateEntry } from './isolate-cache.ts';
import { failedOutcome, parseEnvelope, type OutcomeCaps, type SandboxOutcome } from './outcome.ts';

export type { SandboxOutcome } from './outcome.ts';

/**
 * Per-run limits, named as the project limits they come from (lib/limits.ts): wall clock (ms) over
 * compile, evaluation and the awaited result; heap (MB); and the outcome's caps.
 */
export interface SandboxLimits extends OutcomeCaps {
  readonly timeoutMs: number;
  /** CPU time the run may use across all its slices (the isolate's CPU time); defaults to timeoutMs. */
  readonly cpuMs?: number;
  readonly memoryMb: number;
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

export type { SandboxFetch } from './guarded-fetch.ts';

export interface SandboxJob {
  /** Cache key of the code, e.g. its content id: runs with the same key and memory limit reuse warm isolates. */
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

export interface SandboxRunner {
  /** Runs one job. Resolves to the user code's outcome; throws SandboxLostError when the run must be retried. */
  run(job: SandboxJob): Promise<SandboxOutcome>;
  /** Disposes every isolate; runs in flight throw SandboxLostError. Idempotent. */
  close(): Promise<void>;
  /** Counters for metrics and tests (the in-process runner: isolates, runs, recycled). */
  stats(): Readonly<Record<string, number>>;
}

/** A run lost through no fault of its own code (the runner or its process went away); retry it. */
export class SandboxLostError extends Error {
  override readonly name = 'SandboxLostError';
}

// One run: its handles (released in reverse), its context and entry function, its wall-clock limit, and a way to fail it.
interface RunState {
  readonly handles: Array<{ release(): void }>;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  context?: ivm.Context;
  invoke?: ivm.Reference;
  isDone: boolean;
  fail(error: unknown): void;
}

const MEMORY_LIMIT = 'Isolate was disposed during execution due to memory limit';
// How often the host reads a running isolate's CPU time: a run overshoots its CPU budget by about this much.
const CPU_POLL_MS = 10;
type Ending = 'timeout' | 'cpu';

/**
 * Creates a runner. Each run has an isolate to itself, so its CPU time is the isolate's and a
 * memory or time kill ends no other run. Idle isolates stay warm per code and memory limit; one is
 * recycled after `maxRunsPerIsolate` runs (default 500) or once its used heap passes
 * `heapRecycleRatio` (default 0.6) of its memory limit; at most 64 stay idle (least recently used go first).
 */
export function createSandboxRunner(options: { maxRunsPerIsolate?: number; heapRecycleRatio?: number } = {}): SandboxRunner {
  const isolates = createIsolateCache(options);
  return {
    run: (job) => runJob(isolates, job),
    close: async () => isolates.close(),
    stats: () => isolates.stats(),
  };
}

async function runJob(isolates: IsolateCache, job: SandboxJob): Promise<SandboxOutcome> {
  if (isolates.isClosed) throw new Error('the sandbox runner is closed');
  const startedMs = performance.now();
  const { timeoutMs } = job.limits;
  const cpuMs = Math.min(job.limits.cpuMs ?? timeoutMs, timeoutMs);
  const failed = (error: string): SandboxOutcome => failedOutcome(error, performance.now() - startedMs);
  const entry = isolates.acquire(job.limits.memoryMb, job.codeKey);
  const runEnd = new AbortController();
  const state: RunState = { handles: [], signal: runEnd.signal, timeoutMs, isDone: false, fail: () => undefined };
  const watch = watchLimits(entry, state, cpuMs);
  let isReusable = true;
  try {
    const work = execute(entry, job, state);
    work.catch(() => undefined); // settled later by the disposal when `ending` wins the race
    const result = await Promise.race([work, watch.ending]);
    if (result === 'timeout' || result === 'cpu') {
      isReusable = false;
      return failed(result === 'cpu' ? `CPU time limit of ${cpuMs} ms exceeded` : `timed out after ${timeoutMs} ms`);
    }
    return parseEnvelope(result, job.limits, performance.now() - startedMs);
  } catch (error) {
    isReusable = false;
    if (isolates.isClosed) throw new SandboxLostError('the sandbox runner is closed', { cause: error });
    return failed(failureMessage(error, entry, job.limits));
  } finally {
    state.isDone = true;
    watch.stop();
    runEnd.abort();
    releaseAll(state.handles);
    isolates.release(entry, isReusable);
  }
}

// `ending` settles first when the wall-clock deadline passes, the run's CPU time (the isolate is its
// own, so its CPU time is the run's, across every slice) passes cpuMs, or a fetch continuation fails.
function watchLimits(entry: IsolateEntry, state: RunState, cpuMs: number): { ending: Promise<Ending>; stop(): void } {
  const cpuStartNs = entry.isolate.cpuTime;
  let timer: NodeJS.Timeout | undefined;
  let cpuWatch: NodeJS.Timeout | undefined;
  const ending = new Promise<Ending>((resolve, reject) => {
    timer = setTimeout(() => resolve('timeout'), state.timeoutMs);
    // One thread cannot use more CPU time than wall time: a budget as long as the deadline needs no watch.
    if (cpuMs < state.timeoutMs) {
      cpuWatch = setInterval(() => {
        try {
          if (Number(entry.isolate.cpuTime - cpuStartNs) / 1e6 > cpuMs) resolve('cpu');
        } catch {
          // disposed: the run fails on its own
        }
      }, Math.min(CPU_POLL_MS, cpuMs));
    }
    state.fail = reject;
  });
  return {
    ending,
    stop() {
      clearTimeout(timer);
      clearInterval(cpuWatch);
    },
  };
}

// The error outcome's message for a run that threw (or whose isolate was disposed under it).
function failureMessage(error: unknown, entry: IsolateEntry, limits: SandboxLimits): string {
  if (isGatewayError(error, 'invalid_code')) return `invalid code: ${error.message}`;
  const message = messageOf(error);
  // isolated-vm disposes an isolate by itself only at the memory limit, failing the task it was running.
  if (message === MEMORY_LIMIT || entry.isolate.isDisposed) return `memory limit of ${limits.memoryMb} MB exceeded`;
  // isolated-vm's own timeouts are wall-clock backstops at the run's deadline.
  if (message === TIMED_OUT) return `timed out after ${limits.timeoutMs} ms`;
  return message;
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
  const fetch = job.fetch ?? (job.fetchPolicy ? createGuardedFetch(job.fetchPolicy, { signal: state.signal }) : undefined);
  const fetchRef = fetch ? keep(new ivm.Reference(bridgeFetch(fetch, state))) : undefined;
  const invoke = (state.invoke = keep(await context.evalClosure(BOOTSTRAP_SOURCE, [configJson(job), fetchRef], { result: { reference: true } })));
  const code = keep(await loadUserCode(isolate, context, job.code, entry.code, state.timeoutMs));
  const inputJson = JSON.stringify(job.input ?? null);
  const result: unknown = await invoke.apply(undefined, [code.namespace?.derefInto(), inputJson], {
    result: { promise: true, copy: true },
    timeout: state.timeoutMs,
  });
  return typeof result === 'string' ? result : '';
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
    outputBytes: job.limits.outputBytes,
    logLines: job.limits.logLines,
    logBytes: job.limits.logBytes,
    noEntryMessage: NO_ENTRY_MESSAGE,
  };
  return JSON.stringify(config);
}

type FetchRequest = { url: string; method?: string; headers?: Record<string, string>; body?: string };

// The isolate calls this with applyIgnored, so it must never reject: a host rejection nobody awaits
// would crash the process. It answers through `invoke.deliver`, a task of this run (its CPU time
// counts like any other slice): a continuation that throws, loops or exhausts memory fails this run only.
function bridgeFetch(fetch: SandboxFetch, state: RunState) {
  let deliver: ivm.Reference | undefined;
  return async (callId: number, request: FetchRequest): Promise<void> => {
    if (state.isDone) return;
    let reply: { status: number; headers: Record<string, string>; body: string } | { error: string };
    try {
      const init = { method: request.method, headers: request.headers ? { ...request.headers } : undefined, body: request.body };
      const response = await fetch(request.url, init, state.signal);
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
      await deliver.apply(undefined, [callId, reply], { arguments: { copy: true }, timeout: state.timeoutMs });
    } catch (error) {
      if (!state.isDone) state.fail(error);
    }
  };
}
