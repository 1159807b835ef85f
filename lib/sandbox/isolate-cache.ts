// Warm isolates per code and memory limit, one run each at a time: recycled after a number of runs or
// past a share of their heap, and at most 64 kept idle (least recently used go first). An idle
// isolate gets its next run's context made a moment after the run that left it has answered.
import ivm from 'isolated-vm';
import { BOOTSTRAP_SCRIPT } from './bootstrap.ts';
import type { IsolateCode } from './compile.ts';

/**
 * An isolate, the key and the exact code text it is cached under, the bootstrap compiled in it
 * (once, at creation) and the user code compiled in it.
 */
export interface IsolateEntry {
  readonly key: string;
  readonly code: string;
  readonly isolate: ivm.Isolate;
  readonly memoryBytes: number;
  readonly bootstrap: ivm.Script;
  readonly compiled: IsolateCode;
  runs: number;
  /**
   * A context made for the next run while the isolate waited idle: take it with takeContext.
   * Untouched until then; it goes with the isolate when that is disposed.
   */
  nextContext?: ivm.Context;
}

/**
 * A fresh context for a run of this busy isolate: the one made while it was idle, or a new one
 * made now on this thread (no user code runs in either).
 */
export function takeContext(entry: IsolateEntry): ivm.Context {
  const made = entry.nextContext;
  entry.nextContext = undefined;
  return made ?? entry.isolate.createContextSync();
}

export interface IsolateCache {
  /**
   * Takes an idle isolate of this code key, code text and memory limit (MB), or a new one; it is
   * busy until release(). A key whose code text differs never gets an isolate of the other text.
   */
  acquire(memoryMb: number, codeKey: string, code: string): IsolateEntry;
  /** Returns a busy isolate: it stays warm unless `isReusable` is false, it is worn out, or the cache is closed. */
  release(entry: IsolateEntry, isReusable: boolean): void;
  /** Disposes every isolate, busy ones too (their runs fail). */
  close(): void;
  readonly isClosed: boolean;
  stats(): { isolates: number; runs: number; recycled: number };
}

interface CacheState {
  readonly maxRuns: number;
  readonly heapRatio: number;
  readonly idle: IsolateEntry[];
  readonly busy: Set<IsolateEntry>;
  runs: number;
  recycled: number;
  isClosed: boolean;
}

const MAX_IDLE_ISOLATES = 64;
/** How long after a release an idle isolate's next context is made (ms): see release(). */
export const PREPARE_DELAY_MS = 1;

/** An isolate is recycled after `maxRunsPerIsolate` runs (default 500) or once its used heap passes `heapRecycleRatio` (default 0.6) of its limit. */
export function createIsolateCache(options: { maxRunsPerIsolate?: number; heapRecycleRatio?: number } = {}): IsolateCache {
  const state: CacheState = { maxRuns: options.maxRunsPerIsolate ?? 500, heapRatio: options.heapRecycleRatio ?? 0.6, idle: [], busy: new Set(), runs: 0, recycled: 0, isClosed: false };
  return {
    acquire: (memoryMb, codeKey, code) => acquire(state, memoryMb, codeKey, code),
    release: (entry, isReusable) => release(state, entry, isReusable),
    close() {
      state.isClosed = true;
      for (const entry of [...state.idle.splice(0), ...state.busy]) dispose(entry);
    },
    get isClosed() {
      return state.isClosed;
    },
    stats: () => ({ isolates: state.idle.length + state.busy.size, runs: state.runs, recycled: state.recycled }),
  };
}

function acquire(state: CacheState, memoryMb: number, codeKey: string, code: string): IsolateEntry {
  const key = `${memoryMb}:${codeKey}`;
  const at = state.idle.findLastIndex((e) => e.key === key && e.code === code);
  const entry = at >= 0 ? state.idle.splice(at, 1)[0] : createEntry(key, code, memoryMb);
  state.busy.add(entry);
  entry.runs++;
  state.runs++;
  return entry;
}

// The bootstrap is trusted code: compiling it on the calling thread runs nothing.
function createEntry(key: string, code: string, memoryMb: number): IsolateEntry {
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
  try {
    return { key, code, isolate, memoryBytes: memoryMb * 2 ** 20, bootstrap: isolate.compileScriptSync(BOOTSTRAP_SCRIPT), compiled: {}, runs: 0 };
  } catch (error) {
    isolate.dispose();
    throw error;
  }
}

// Back to the idle list, unless the run ended it (a kill, a stray task) or it is due for recycling.
function release(state: CacheState, entry: IsolateEntry, isReusable: boolean): void {
  state.busy.delete(entry);
  if (state.isClosed || !isReusable || entry.isolate.isDisposed) return dispose(entry);
  if (isWorn(state, entry)) {
    state.recycled++;
    return dispose(entry);
  }
  state.idle.push(entry);
  if (state.idle.length > MAX_IDLE_ISOLATES) dispose(state.idle.shift()!);
  // The next run's context is made once the run that released the isolate has answered, so a run that
  // takes it skips the largest part of its set-up (a V8 context costs about as much as the rest of a
  // short run). When no other run is in progress here, a moment later rather than in the next turn of
  // the event loop: the process the answer wakes (the executor) is often put on this process's CPU,
  // and waited there for the context to be made, about 0.4 ms of each run's round trip through a
  // sandbox process at one run every 20 ms. While other runs are in progress in this process (runs
  // in flight together), in the next turn, so the context is ready for the next run that arrives.
  // It is made on this thread: the isolate is idle and no user code runs, and an isolate task
  // (createContext) would cost two thread hand-offs more, which measured about a fifth of a short
  // run's CPU on a busy machine.
  if (state.busy.size > 0) setImmediate(() => prepareContext(state, entry));
  else setTimeout(() => prepareContext(state, entry), PREPARE_DELAY_MS).unref();
}

// Skipped when the isolate was taken meanwhile (its run makes its own) or is gone.
function prepareContext(state: CacheState, entry: IsolateEntry): void {
  if (entry.nextContext || entry.isolate.isDisposed || state.busy.has(entry)) return;
  try {
    entry.nextContext = entry.isolate.createContextSync();
  } catch {
    // disposed meanwhile: the next run, if any, finds no isolate to use
  }
}

function isWorn(state: CacheState, entry: IsolateEntry): boolean {
  if (entry.runs >= state.maxRuns) return true;
  try {
    // Nothing runs in it now, so this synchronous call cannot wait behind user code.
    return entry.isolate.getHeapStatisticsSync().used_heap_size > state.heapRatio * entry.memoryBytes;
  } catch {
    return true;
  }
}

function dispose(entry: IsolateEntry): void {
  if (!entry.isolate.isDisposed) entry.isolate.dispose();
}
