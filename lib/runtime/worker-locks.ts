// Per queue: how long a worker's hold on a job lasts, and how soon another worker takes over the jobs
// of one that died (BullMQ's job lock and stalled check).
//
// How BullMQ uses these: taking a job sets its lock for `lockDurationMs`; the worker extends the
// locks of the jobs it holds from a timer on its event loop, each about every `lockRenewMs`. Every
// `stalledIntervalMs` one worker of the queue moves back to waiting each job that was active at the
// previous check and has no lock now. A killed worker's job is therefore taken again at most
// `lockDurationMs + stalledIntervalMs` after the kill (once a worker of that queue runs), and a live
// worker loses a lock only if its event loop (or its Redis round trip) stalls for longer than
// `lockDurationMs - lockRenewMs`. A job handed back more than `maxStalledCount` times fails for good.
import type { QueueKind } from '../queues.ts';

export interface WorkerLocks {
  /** How long a job's lock lasts without renewal (ms). */
  readonly lockDurationMs: number;
  /** How often a held lock is renewed (ms): at most this, at least half of it. */
  readonly lockRenewMs: number;
  /** How often the queue is checked for jobs whose worker died (ms). */
  readonly stalledIntervalMs: number;
  /** How often a job may be handed back after its worker died before it fails for good. */
  readonly maxStalledCount: number;
}

/**
 * A short job (a few ms of parsing, one signature or VRF check, a guarded write) that renews every
 * second keeps its lock through a 3 s event-loop or Redis stall: far beyond what a loaded machine
 * shows (GC pauses and a busy loop are tens to hundreds of ms; no role runs user code on its loop:
 * sandbox runs and code checks live in child processes). A killed worker's job is back within 5 s.
 */
const SHORT_JOB: Omit<WorkerLocks, 'maxStalledCount'> = { lockDurationMs: 4000, lockRenewMs: 1000, stalledIntervalMs: 1000 };

export const WORKER_LOCKS = {
  // Assignment is idempotent (a guarded write, run jobs with deterministic ids): a second take only
  // re-sends the run jobs. Three deaths on one request point at the request; the repair sweep and
  // its deadline still end it.
  incoming: { ...SHORT_JOB, maxStalledCount: 3 },
  // A run lasts up to its project's timeout, but in a sandbox process: the executor's loop only
  // loads, signs and sends, so its locks renew on time however long the run. A false stall would
  // cost a second run of the code (and of its fetches), so the lock gets a wider margin (5 s); the
  // take-over is less urgent, since the committee's other members carry the quorum while a node
  // restarts (and only that node consumes its queue). A run whose node died twice fails for good:
  // it may be what kills the node.
  exec: { lockDurationMs: 6000, lockRenewMs: 1000, stalledIntervalMs: 2000, maxStalledCount: 2 },
  // A ticket is worth something only within its round: one take-over, then the next round asks again.
  ticketRequests: { ...SHORT_JOB, stalledIntervalMs: 2000, maxStalledCount: 1 },
  // Recording a vote is once per node (a second take is refused as a duplicate); a lost vote is a
  // missed seat, so a vote survives three consensus deaths.
  votes: { ...SHORT_JOB, maxStalledCount: 3 },
  // A ticket after its round froze is refused anyway.
  tickets: { ...SHORT_JOB, stalledIntervalMs: 2000, maxStalledCount: 1 },
  // The ledger append is a no-op for a request that has an entry; a publish job that failed for
  // good is added again by the repair sweep while its request is still agreed.
  publish: { ...SHORT_JOB, maxStalledCount: 3 },
} as const satisfies Record<QueueKind, WorkerLocks>;

/** BullMQ's worker options for a queue kind. */
export function workerLockOptions(kind: QueueKind): { lockDuration: number; lockRenewTime: number; stalledInterval: number; maxStalledCount: number } {
  const locks: WorkerLocks = WORKER_LOCKS[kind];
  return { lockDuration: locks.lockDurationMs, lockRenewTime: locks.lockRenewMs, stalledInterval: locks.stalledIntervalMs, maxStalledCount: locks.maxStalledCount };
}
