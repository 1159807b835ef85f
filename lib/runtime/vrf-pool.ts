// VRF proofs and verifications off the event loop: a few worker threads (ECVRF is several ms of pure
// JavaScript per call, which a busy role's loop cannot spare at a round boundary). Threads start on
// the first call (or warm()) and never keep the process alive; a lost thread fails its calls and is
// replaced by the next call.
import { Worker } from 'node:worker_threads';
import type { VrfSuite } from '../crypto/ecvrf.ts';
import type { VrfProof, VrfRunner } from '../crypto/vrf-runner.ts';
import type { Logger } from '../logger.ts';

/** What a pool's caller sees go wrong: `lost` (the thread died with the call), `closed`, `queue_full`. */
export class VrfPoolError extends Error {
  override readonly name = 'VrfPoolError';
  readonly code: 'lost' | 'closed' | 'queue_full';

  constructor(code: VrfPoolError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/** A call as posted to a thread (lib/runtime/vrf-worker.ts). */
export type VrfCall =
  | { readonly id: number; readonly op: 'prove'; readonly secretKey: Uint8Array; readonly alpha: Uint8Array; readonly suite?: VrfSuite }
  | { readonly id: number; readonly op: 'verify'; readonly publicKey: Uint8Array; readonly proof: Uint8Array; readonly alpha: Uint8Array; readonly suite?: VrfSuite };

type WithoutId<C> = C extends unknown ? Omit<C, 'id'> : never;
type VrfRequest = WithoutId<VrfCall>;

/** A thread's answer to the call with the same id. */
export type VrfReply =
  | ({ readonly id: number; readonly op: 'prove' } & VrfProof)
  | { readonly id: number; readonly op: 'verify'; readonly beta: Uint8Array | null }
  | { readonly id: number; readonly op: 'error'; readonly name: string; readonly message: string };

export interface VrfPool extends VrfRunner {
  /** Starts a thread now instead of on the first call; resolves once it answers (never rejects). */
  warm(): Promise<void>;
  /** Ends the threads; calls still pending fail with `closed`, later calls too. Idempotent. */
  close(): Promise<void>;
}

export interface VrfPoolOptions {
  /** Threads at most, each started when the others are busy (default 1). */
  readonly threads?: number;
  /** Calls waiting or running at once; one more fails at once with `queue_full` (default 1024). */
  readonly maxPending?: number;
  /** Hears a thread that died (`error` or `exit <code>`); the next call starts another. */
  readonly onThreadLost?: (reason: string) => void;
  /** Hears every thread started (for tests that end one). */
  readonly onThreadStart?: (worker: Worker) => void;
}

interface PendingCall {
  resolve(reply: VrfReply): void;
  reject(error: Error): void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, PendingCall>;
}

const WORKER_URL = new URL('./vrf-worker.ts', import.meta.url);
// A thread holds a few curve tables and one call's numbers: a small heap keeps an idle one near 25 MB
// resident (the default young generation alone would add about 10 MB per thread).
const THREAD_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 2 };

export function createVrfPool(options: VrfPoolOptions = {}): VrfPool {
  const size = options.threads ?? 1;
  const maxPending = options.maxPending ?? 1024;
  const threads: (Thread | undefined)[] = Array.from({ length: size }, () => undefined);
  let nextId = 0;
  let isClosed = false;

  const pendingCount = () => threads.reduce((sum, t) => sum + (t?.pending.size ?? 0), 0);

  const forget = (thread: Thread, error: VrfPoolError) => {
    const index = threads.indexOf(thread);
    if (index < 0) return false;
    threads[index] = undefined;
    for (const call of thread.pending.values()) call.reject(error);
    thread.pending.clear();
    return true;
  };

  function start(index: number): Thread {
    const worker = new Worker(WORKER_URL, { resourceLimits: THREAD_LIMITS });
    const thread: Thread = { worker, pending: new Map() };
    // Idle, a thread must not keep the process alive; with calls pending it is ref'd (see call()).
    worker.unref();
    worker.on('message', (reply: VrfReply) => {
      const call = thread.pending.get(reply.id);
      if (!call) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) worker.unref();
      call.resolve(reply);
    });
    const lose = (reason: string) => {
      if (forget(thread, new VrfPoolError('lost', `the VRF thread was lost (${reason}) with the call`))) options.onThreadLost?.(reason);
    };
    worker.on('error', () => lose('error'));
    worker.on('exit', (code) => lose(`exit ${code}`));
    threads[index] = thread;
    options.onThreadStart?.(worker);
    return thread;
  }

  /** An idle thread, else a new one while fewer than `size` run, else the least busy. */
  function pick(): Thread {
    const running = threads.filter((t): t is Thread => t !== undefined);
    const idle = running.find((t) => t.pending.size === 0);
    if (idle) return idle;
    const free = threads.indexOf(undefined);
    if (free >= 0) return start(free);
    return running.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  }

  function call(request: VrfRequest): Promise<VrfReply> {
    if (isClosed) return Promise.reject(new VrfPoolError('closed', 'the VRF pool is closed'));
    if (pendingCount() >= maxPending) return Promise.reject(new VrfPoolError('queue_full', `the VRF pool holds ${maxPending} calls`));
    const thread = pick();
    const id = nextId++;
    return new Promise<VrfReply>((resolve, reject) => {
      try {
        thread.worker.postMessage({ ...request, id });
      } catch (error) {
        return reject(error);
      }
      thread.pending.set(id, { resolve, reject });
      if (thread.pending.size === 1) thread.worker.ref();
    });
  }

  // The thread's exception, as ecvrf.ts would have thrown it here (its messages carry no key material).
  const rethrown = (reply: Extract<VrfReply, { op: 'error' }>): Error =>
    reply.name === 'RangeError' ? new RangeError(reply.message) : reply.name === 'TypeError' ? new TypeError(reply.message) : new Error(reply.message);

  const pool: VrfPool = {
    async warm() {
      // Any call loads the thread's modules; a zero key and proof verify to null at once.
      await pool.verify(new Uint8Array(32), new Uint8Array(80), new Uint8Array(0)).catch(() => null);
    },
    async prove(secretKey, alpha, suite) {
      const reply = await call({ op: 'prove', secretKey, alpha, ...(suite ? { suite } : {}) });
      if (reply.op === 'error') throw rethrown(reply);
      if (reply.op !== 'prove') throw new Error(`the VRF thread answered a prove with ${reply.op}`);
      return { proof: reply.proof, beta: reply.beta };
    },
    async verify(publicKey, proof, alpha, suite) {
      const reply = await call({ op: 'verify', publicKey, proof, alpha, ...(suite ? { suite } : {}) });
      if (reply.op === 'error') throw rethrown(reply);
      if (reply.op !== 'verify') throw new Error(`the VRF thread answered a verify with ${reply.op}`);
      return reply.beta;
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      const running = threads.filter((t): t is Thread => t !== undefined);
      for (const thread of running) forget(thread, new VrfPoolError('closed', 'the VRF pool closed with the call pending'));
      await Promise.all(running.map((t) => t.worker.terminate()));
    },
  };
  return pool;
}

/**
 * The VRF runner of a role that proves or checks every round: the process's shared one when given,
 * else a pool of its own, started at once (the first rounds' tickets do not wait for the thread to
 * load) and ended by `close` (which leaves a shared one alone).
 */
export function openRoleVrf(shared: VrfRunner | undefined, logger: Pick<Logger, 'error'>): { readonly vrf: VrfRunner; close(): Promise<void> } {
  if (shared) return { vrf: shared, close: async () => {} };
  const own = createVrfPool({ onThreadLost: (reason) => logger.error({ reason }, 'VRF thread lost; replaced on the next call') });
  void own.warm();
  return { vrf: own, close: () => own.close() };
}
