// Runs user code in warm isolates (one run per isolate at a time, recycled), a fresh context per run,
// under a host wall-clock deadline and a CPU budget that spans every slice of the run.
import ivm from 'isolated-vm';
import { fromHex } from '../crypto/bytes.ts';
import { isGatewayError } from '../errors.ts';
import type { BootstrapConfig, InvokeResult } from './bootstrap.ts';
import { createGuardedFetch, type FetchPolicy, type SandboxFetch } from './guarded-fetch.ts';
import { messageOf, NO_ENTRY_MESSAGE, releaseAll, startUserCode, TIMED_OUT, type CodeRecord } from './compile.ts';
import { createIsolateCache, takeContext, type IsolateCache, type IsolateEntry } from './isolate-cache.ts';
import { createLruMap, type LruMap } from './lru-map.ts';
import { capLogs, failedOutcome, parseEnvelope, type OutcomeCaps, type SandboxOutcome } from './outcome.ts';

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
  /**
   * Cache key of the code, e.g. its content id: runs with the same key, the same code text and the
   * same memory limit reuse warm isolates and compiled code. A key seen with other text gets its own.
   */
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

/**
 * What a run produced before any parsing: the bootstrap's envelope (see bootstrap.ts) with the run's
 * duration (ms), or an error outcome the host made (limits, invalid code). A sandbox process hands
 * it on as it is, and the executor side parses and checks it once (outcome.ts parseEnvelope).
 */
export type RawOutcome = { readonly envelope: string; readonly durationMs: number } | SandboxOutcome;

/** A run lost through no fault of its own code (the runner or its process went away); retry it. */
export class SandboxLostError extends Error {
  override readonly name = 'SandboxLostError';
}

// One run: its handles (released in reverse), its fetch answer function, its wall-clock limit, a
// way to fail it, and the fetch answers still being delivered (the isolate is busy until they end).
// What only a fetch needs (the signal that ends its exchanges with the run, the guarded fetch) is
// made at the run's first fetch call: most runs make none.
interface RunState {
  readonly handles: Array<{ release(): void }>;
  runEnd?: AbortController;
  readonly timeoutMs: number;
  deliver?: ivm.Reference;
  /** The lines the run logged so far, as the bootstrap sends them: what a run the host ends keeps. */
  readonly logs: string[];
  isDone: boolean;
  deliveries: number;
  onIdle?: () => void;
  fail(error: unknown): void;
}

// What the runner knows of each code text: kind and module code cache (compile.ts), bounded.
type CodeRecords = LruMap<string, CodeRecord>;

const MEMORY_LIMIT = 'Isolate was disposed during execution due to memory limit';
const MAX_CODE_RECORDS = 256;
const MAX_CODE_RECORD_BYTES = 64 * 2 ** 20;
// How often the host reads a running isolate's CPU time: a run overshoots its CPU budget by about this much.
const CPU_POLL_MS = 10;
type Ending = 'timeout' | 'cpu';

/**
 * Creates a runner. Each run has an isolate to itself, so its CPU time is the isolate's and a
 * memory or time kill ends no other run. Idle isolates stay warm per code and memory limit; one is
 * recycled after `maxRunsPerIsolate` runs (default 500) or once its used heap passes
 * `heapRecycleRatio` (default 0.6) of its memory limit; at most 64 stay idle (least recently used go first).
 * Compiled code is reused, never a context: the bootstrap is compiled once per isolate, a code's kind
 * and V8 code cache are kept per code text (the last 256), and each run gets a new context.
 * `runRaw` leaves the envelope unparsed for a caller that checks it elsewhere (the pool's parent).
 */
/** What one run used, as the isolate counts it: CPU time across its slices, and the heap in use when it ended. */
export interface RunUsage {
  cpuMs: number;
  heapBytes: number;
}

export function createSandboxRunner(options: { maxRunsPerIsolate?: number; heapRecycleRatio?: number } = {}): SandboxRunner & {
  runRaw(job: SandboxJob): Promise<RawOutcome>;
  /** `run`, with what the run used (the simulator shows it per node); usage is absent when the isolate was gone. */
  runMeasured(job: SandboxJob): Promise<{ outcome: SandboxOutcome; usage?: RunUsage }>;
} {
  const isolates = createIsolateCache(options);
  const records: CodeRecords = createLruMap({
    maxEntries: MAX_CODE_RECORDS,
    maxBytes: MAX_CODE_RECORD_BYTES,
    // The text, and about as much again for V8's code cache of it.
    sizeOf: (record) => record.code.length * 2,
    onEvict: (_key, record) => record.cachedData?.release(),
  });
  return {
    run: async (job) => {
      const raw = await runJob(isolates, records, job);
      return 'envelope' in raw ? parseEnvelope(raw.envelope, job.limits, raw.durationMs) : raw;
    },
    runRaw: (job) => runJob(isolates, records, job),
    runMeasured: async (job) => {
      const usage: Partial<RunUsage> = {};
      const raw = await runJob(isolates, records, job, usage);
      const outcome = 'envelope' in raw ? parseEnvelope(raw.envelope, job.limits, raw.durationMs) : raw;
      return usage.cpuMs === undefined ? { outcome } : { outcome, usage: usage as RunUsage };
    },
    close: async () => {
      isolates.close();
      records.clear();
    },
    stats: () => ({ ...isolates.stats(), codes: records.size }),
  };
}

// The record of this exact code text: a key seen with other text gets a new record (and drops the old one).
function recordOf(records: CodeRecords, job: SandboxJob): CodeRecord {
  const known = records.get(job.codeKey);
  if (known?.code === job.code) return known;
  const record: CodeRecord = { code: job.code };
  records.set(job.codeKey, record);
  return record;
}

/** Why a run's fetches are cut off when it ends. */
const RUN_ENDED = new Error('the run ended');

async function runJob(isolates: IsolateCache, records: CodeRecords, job: SandboxJob, usage?: Partial<RunUsage>): Promise<RawOutcome> {
  if (isolates.isClosed) throw new Error('the sandbox runner is closed');
  const startedMs = performance.now();
  const { timeoutMs } = job.limits;
  const cpuMs = Math.min(job.limits.cpuMs ?? timeoutMs, timeoutMs);
  // A run the host ends keeps what it logged until then (capped as the envelope's logs are).
  const failed = (error: string): SandboxOutcome => failedOutcome(error, performance.now() - startedMs, capLogs(state.logs, job.limits));
  const record = recordOf(records, job);
  const entry = isolates.acquire(job.limits.memoryMb, job.codeKey, job.code);
  const state: RunState = { handles: [], timeoutMs, logs: [], isDone: false, deliveries: 0, fail: () => undefined };
  const watch = watchLimits(entry, state, cpuMs);
  const cpuStartNs = usage ? entry.isolate.cpuTime : 0n;
  let isReusable = true;
  try {
    const work = execute(entry, record, job, state);
    work.catch(() => undefined); // settled later by the disposal when `ending` wins the race
    const result = await Promise.race([work, watch.ending]);
    if (result === 'timeout' || result === 'cpu') {
      isReusable = false;
      return failed(result === 'cpu' ? `CPU time limit of ${cpuMs} ms exceeded` : `timed out after ${timeoutMs} ms`);
    }
    return { envelope: result, durationMs: performance.now() - startedMs };
  } catch (error) {
    isReusable = false;
    if (isolates.isClosed) throw new SandboxLostError('the sandbox runner is closed', { cause: error });
    return failed(failureMessage(error, entry, job.limits));
  } finally {
    state.isDone = true;
    watch.stop();
    // With a reason of its own: abort() without one builds a DOMException.
    state.runEnd?.abort(RUN_ENDED);
    if (usage && !entry.isolate.isDisposed) {
      try {
        usage.cpuMs = Number(entry.isolate.cpuTime - cpuStartNs) / 1e6;
        usage.heapBytes = entry.isolate.getHeapStatisticsSync().used_heap_size;
      } catch {
        // disposed meanwhile: no usage to report
      }
    }
    releaseAll(state.handles);
    // The next run calls into the isolate on this thread: it must be idle, so a fetch answer still
    // being delivered (it ends within its own timeout) holds the isolate back until it ends.
    const release = () => isolates.release(entry, isReusable);
    if (state.deliveries === 0) release();
    else state.onIdle = release;
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

// Creates the context and bootstraps it on this thread (the isolate is idle and only trusted code
// runs), then starts the user code as isolate tasks (compile.ts): every call that runs user code or
// copies a value it made is asynchronous. The envelope arrives through the done Reference, sent by
// the bootstrap once the entry settles. Every handle lands in state.handles.
async function execute(entry: IsolateEntry, record: CodeRecord, job: SandboxJob, state: RunState): Promise<InvokeResult> {
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
  const context = keep(takeContext(entry));
  const fetchRef = job.fetch || job.fetchPolicy ? keep(new ivm.Reference(bridgeFetch(job, state))) : undefined;
  // Called with applyIgnored by the bootstrap, one line (a string) per call; lines past the caps are not kept.
  const logRef = keep(new ivm.Reference((line: unknown) => {
    if (!state.isDone && typeof line === 'string' && state.logs.length <= job.limits.logLines) state.logs.push(line);
  }));
  let onDone!: (envelope: InvokeResult) => void;
  const done = new Promise<InvokeResult>((resolve) => (onDone = resolve));
  const doneRef = keep(new ivm.Reference((envelope: unknown) => onDone(typeof envelope === 'string' ? envelope : '')));
  const bootstrap = keep(entry.bootstrap.runSync(context, { reference: true }));
  const api = keep(bootstrap.applySync(undefined, [configJson(job), fetchRef, logRef, doneRef], { result: { reference: true } })) as ivm.Reference<{ start: unknown; deliver: unknown }>;
  // Read before any user code runs: a synchronous call later could wait behind a task of the run.
  const start = keep(api.getSync('start', { reference: true }));
  if (fetchRef) state.deliver = keep(api.getSync('deliver', { reference: true }));
  await startUserCode(isolate, context, record, entry.compiled, start, state.timeoutMs, keep);
  // A module whose top-level await never settles never starts its entry: the deadline ends the run.
  return done;
}

function configJson(job: SandboxJob): string {
  const seed = fromHex(job.context.seed, 32);
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const config: BootstrapConfig = {
    input: job.input ?? null,
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

// The signal that aborts the run's fetch exchanges when the run ends (made at its first fetch).
function runSignal(state: RunState): AbortSignal {
  return (state.runEnd ??= new AbortController()).signal;
}

type FetchRequest = { url: string; method?: string; headers?: Record<string, string>; body?: string };

// The isolate calls this with applyIgnored, so it must never reject: a host rejection nobody awaits
// would crash the process. It answers through `deliver`, a task of this run (its CPU time
// counts like any other slice): a continuation that throws, loops or exhausts memory fails this run only.
// The guarded fetch of a job with a fetch policy is made at the run's first fetch call.
function bridgeFetch(job: Pick<SandboxJob, 'fetch' | 'fetchPolicy'>, state: RunState) {
  let fetch = job.fetch;
  return async (callId: number, request: FetchRequest): Promise<void> => {
    if (state.isDone) return;
    let reply: { status: number; headers: Record<string, string>; body: string } | { error: string };
    try {
      const init = { method: request.method, headers: request.headers ? { ...request.headers } : undefined, body: request.body };
      fetch ??= createGuardedFetch(job.fetchPolicy!, { signal: runSignal(state) });
      const response = await fetch(request.url, init, runSignal(state));
      reply = { status: response.status, headers: { ...response.headers }, body: response.body };
    } catch (error) {
      reply = { error: error instanceof Error ? error.message : String(error) };
    }
    if (state.isDone || !state.deliver) return;
    state.deliveries++;
    try {
      await state.deliver.apply(undefined, [callId, reply], { arguments: { copy: true }, timeout: state.timeoutMs });
    } catch (error) {
      if (!state.isDone) state.fail(error);
    } finally {
      if (--state.deliveries === 0) state.onIdle?.();
    }
  };
}
