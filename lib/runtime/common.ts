// What every role shares: its handle, the clock, and a BullMQ worker wired the same way everywhere.
import { UnrecoverableError, Worker, type Job, type Processor } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { errorForLog, type Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { parsePayload } from '../queue-payloads.ts';
import { queueName, queuePrefix, type JobHandlers, type JobPayloads, type JobResults, type PerNodeQueueKind, type QueueKind } from '../queues.ts';
import { startPeriodic } from './periodic.ts';
import { workerLockOptions } from './worker-locks.ts';

/** A started role. `stop()` is idempotent and releases in reverse order of start. */
export interface RoleHandle {
  readonly name: string;
  /** True once the role takes work (for `/readyz`). */
  isReady(): boolean;
  stop(): Promise<void>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What every role receives besides the repository slice it names. */
export interface RoleBase {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The process's Redis client for BullMQ; workers derive their blocking connections from it. */
  readonly queueConnection: Redis;
  readonly metrics: Metrics;
}

/**
 * Starts a worker on one queue with one handler per payload kind (the compiler checks that every
 * kind has one). Each payload is parsed before its handler sees it: a malformed job fails for good
 * (UnrecoverableError) and is never retried. Failures of single jobs are logged, never thrown.
 */
export function startWorker<K extends QueueKind>(
  base: RoleBase,
  kind: K,
  handlers: JobHandlers<K>,
  options: { nodeId?: string; concurrency: number; senderOf?: (payload: JobPayloads[K]) => string },
): Worker<JobPayloads[K]> {
  const name = queueName(kind, options.nodeId);
  const timed = async (job: Job<JobPayloads[K]>, token?: string): Promise<unknown> => {
    const stop = base.metrics.jobDuration.startTimer({ queue: kind });
    try {
      const payload = parsePayload(kind, job.data);
      const sender = options.senderOf?.(payload);
      if (sender !== undefined && sender !== options.nodeId) {
        throw new UnrecoverableError(`a job of node ${sender} in the ${kind} queue of another node`);
      }
      const handler = handlers[payload.kind as keyof JobHandlers<K>] as (payload: JobPayloads[K], job: Job<JobPayloads[K]>, token?: string) => Promise<JobResults[K]>;
      const result = await handler(payload, job, token);
      stop({ outcome: 'done' });
      return result;
    } catch (error) {
      stop({ outcome: (error as Error)?.name === 'DelayedError' ? 'delayed' : 'error' });
      throw error;
    }
  };
  // A job handed back while this worker still runs it (its lock expired: a stalled loop) comes back to
  // this same process on per-node queues, which one process consumes: it waits for the run in
  // progress instead of starting a second one (a second run would be harmless, but costly).
  const inProgress = new Map<string, Promise<unknown>>();
  const processor = (job: Job<JobPayloads[K]>, token?: string): Promise<unknown> => {
    const running = job.id === undefined ? undefined : inProgress.get(job.id);
    if (running) return running;
    const run = timed(job, token).finally(() => {
      if (job.id !== undefined && inProgress.get(job.id) === run) inProgress.delete(job.id);
    });
    if (job.id !== undefined) inProgress.set(job.id, run);
    return run;
  };
  const worker = new Worker<JobPayloads[K]>(name, processor as Processor<JobPayloads[K]>, {
    connection: base.queueConnection,
    prefix: queuePrefix(base.config.keyPrefix, name),
    concurrency: options.concurrency,
    // Lock, renewal and stalled check per queue, with their reasons: worker-locks.ts.
    ...workerLockOptions(kind),
  });
  worker.on('failed', (job, err) => {
    base.logger.warn({ queue: name, jobId: job?.id, attempts: job?.attemptsMade, err: errorForLog(err) }, 'job failed');
  });
  worker.on('error', (err) => base.logger.error({ queue: name, err: errorForLog(err) }, 'worker error'));
  return worker;
}

/** Workers on one per-node queue kind, one per registered node, following the node registry. */
export interface PerNodeWorkers {
  /** True once the first node list was read and every worker started so far runs. */
  isRunning(): boolean;
  /** Reads the node registry again now (also done every `refreshMs`). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Consumes every node's own queue of one kind (`votes.<id>`, `tickets.<id>`): a worker per
 * registered node, started when the node appears in the registry. A job whose payload names
 * another node than the queue's owner fails for good: a node writes only its own queues, so it
 * cannot speak for another.
 */
export function startPerNodeWorkers<K extends PerNodeQueueKind>(
  base: RoleBase,
  kind: K,
  handlers: JobHandlers<K>,
  options: { listNodeIds: () => Promise<readonly string[]>; senderOf: (payload: JobPayloads[K]) => string; concurrency: number; refreshMs: number },
): PerNodeWorkers {
  const workers = new Map<string, Worker<JobPayloads[K]>>();
  let hasListed = false;
  let isClosed = false;
  const listAndStart = async () => {
    const ids = await options.listNodeIds();
    if (isClosed) return;
    for (const nodeId of ids) {
      if (!workers.has(nodeId)) workers.set(nodeId, startWorker(base, kind, handlers, { nodeId, concurrency: options.concurrency, senderOf: options.senderOf }));
    }
    hasListed = true;
  };
  const periodic = startPeriodic({
    intervalMs: options.refreshMs,
    run: listAndStart,
    runAtStart: true,
    onError: (err) => base.logger.warn({ queue: kind, err: errorForLog(err) }, 'node list refresh failed'),
  });
  return {
    isRunning: () => hasListed && [...workers.values()].every((w) => w.isRunning()),
    refresh: () => periodic.runOnce(),
    async close() {
      isClosed = true;
      await periodic.stop();
      const all = [...workers.values()];
      workers.clear();
      await Promise.all(all.map((w) => w.close()));
    },
  };
}

/** Runs `stop` once, however often it is called. */
export function once(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= stop());
}
