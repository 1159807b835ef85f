// Queue names and job payloads: the contracts between roles (docs/architecture.md, "Roles and queues").
import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RequestStatus } from './protocol/request-lifecycle.ts';
import type { Vote } from './protocol/vote.ts';

/** Payload of every job, per queue: a union discriminated by `kind`. Job ids are deterministic and never contain ':'. */
export interface JobPayloads {
  /**
   * webserver/scheduler → receiver: a request persisted as `queued`. `projectId` and `acceptedAtMs`:
   * hints only (anyone with queue access writes payloads); an assignment made from them applies only
   * when the stored request has that project and acceptance time.
   */
  incoming: { kind: 'request'; requestId: string; projectId?: string; acceptedAtMs?: number };
  /** receiver → one executor node: run a request. */
  /** `projectId`: the request's project, a hint only (the executor reads its secrets alongside the request, and uses them only when the request names that project). */
  exec: { kind: 'run'; requestId: string; projectId?: string };
  /** scheduler → one executor node: prove the ticket of a round. A queue of its own, with a worker of its own, so tickets never wait behind runs. */
  ticketRequests: { kind: 'ticket'; round: number };
  /** One executor node → consensus, in that node's own queue (`votes.<nodeId>`): only that node's votes. */
  votes: { kind: 'vote'; vote: Vote; logs?: string[] };
  /** One executor node → scheduler, in that node's own queue (`tickets.<nodeId>`): only that node's tickets. */
  tickets: { kind: 'ticket'; nodeId: string; round: number; beta: string; proof: string };
  /** consensus → sender. */
  publish: { kind: 'publish'; requestId: string };
}

export type QueueKind = keyof JobPayloads;

/** A handled job whose request had moved on already. */
type AlreadyStatus = `already ${RequestStatus}`;

/** What each queue's handler returns (kept as the job's return value: an audit aid). */
export interface JobResults {
  incoming: 'assigned' | 'redispatched' | 'raced' | 'rejected' | 'no_nodes' | AlreadyStatus;
  exec: 'voted ok' | 'voted error' | 'not_assigned' | 'not_member' | 'already_voted' | 'no_project' | 'code_mismatch' | AlreadyStatus;
  ticketRequests: 'ticket sent' | 'no_round';
  votes: 'pending' | 'grace' | 'agreed' | 'no_quorum' | 'counted' | 'late' | `refused: ${string}` | AlreadyStatus;
  tickets: 'stored' | `refused: ${string}`;
  publish: 'published' | 'unverified' | AlreadyStatus;
}

/**
 * Per queue: whether each executor node has its own. A node writes only its own queues (its Redis
 * user is limited to them), so no node can squat, delete or forge another node's jobs; consensus
 * and the scheduler consume every node's `votes.<nodeId>` and `tickets.<nodeId>`.
 */
export const QUEUE_CONTRACT = {
  incoming: { isPerNode: false },
  exec: { isPerNode: true },
  ticketRequests: { isPerNode: true },
  votes: { isPerNode: true },
  tickets: { isPerNode: true },
  publish: { isPerNode: false },
} as const satisfies Record<QueueKind, { isPerNode: boolean }>;

/** The queue kinds that exist once per executor node. */
export type PerNodeQueueKind = { [K in QueueKind]: (typeof QUEUE_CONTRACT)[K]['isPerNode'] extends true ? K : never }[QueueKind];

/** The handlers a role registers for a queue: one per payload kind, each returning that queue's result type. */
export type JobHandlers<K extends QueueKind> = {
  readonly [P in JobPayloads[K]['kind']]: (payload: Extract<JobPayloads[K], { kind: P }>, job: Job<JobPayloads[K]>, token?: string) => Promise<JobResults[K]>;
};

/** The queues that exist once for the whole gateway, and those that exist once per node. */
export const SHARED_QUEUE_KINDS = ['incoming', 'publish'] as const satisfies readonly QueueKind[];
export const PER_NODE_QUEUE_KINDS = ['exec', 'ticketRequests', 'votes', 'tickets'] as const satisfies readonly PerNodeQueueKind[];

const PER_NODE_NAME: Readonly<Record<PerNodeQueueKind, (nodeId: string) => string>> = {
  exec: (id) => `exec.${id}`,
  ticketRequests: (id) => `exec.${id}.tickets`,
  votes: (id) => `votes.${id}`,
  tickets: (id) => `tickets.${id}`,
};

/** BullMQ queue name of a kind; per-node queues are `exec.<id>`, `exec.<id>.tickets`, `votes.<id>`, `tickets.<id>`. */
export function queueName(kind: QueueKind, nodeId?: string): string {
  if (!QUEUE_CONTRACT[kind].isPerNode) return kind;
  if (!nodeId || !/^[A-Za-z0-9_-]+$/.test(nodeId)) throw new RangeError(`the ${kind} queues are per node: they need a node id of letters, digits, "_" and "-"`);
  return PER_NODE_NAME[kind as PerNodeQueueKind](nodeId);
}

/**
 * BullMQ key prefix of the queue named `name`: `<keyPrefix>:{<name>}`, so its keys read
 * `gw:{incoming}:incoming:wait`. Each queue is a Redis Cluster hash tag of its own: BullMQ's scripts
 * need all of one queue's keys in one slot, and different queues spread over the shards.
 */
export function queuePrefix(keyPrefix: string, name: string): string {
  return `${keyPrefix}:{${name}}`;
}

/** Deterministic job ids, per queue and kind: a redelivered or re-added job never becomes a second job while the first exists. */
export const jobIds = {
  incoming: (requestId: string) => requestId,
  run: (requestId: string, nodeId: string) => `${requestId}.${nodeId}`,
  ticket: (round: number) => `ticket.${round}`,
  vote: (requestId: string, nodeId: string) => `vote.${requestId}.${nodeId}`,
  submittedTicket: (round: number, nodeId: string) => `${round}.${nodeId}`,
  publish: (requestId: string) => `publish.${requestId}`,
};

/** Kept small: job records are an audit aid, the repository holds the truth. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 100 },
  removeOnComplete: { age: 600, count: 2000 },
  removeOnFail: { age: 24 * 3600, count: 5000 },
};

/** A job's state as BullMQ reports it, or `missing` when there is none. */
export type JobState = 'missing' | 'completed' | 'failed' | 'waiting' | 'active' | 'delayed' | 'prioritized' | 'waiting-children' | 'unknown';

/** One job of one queue, by its deterministic id. */
export interface JobRef {
  readonly kind: QueueKind;
  readonly jobId: string;
  readonly nodeId?: string;
}

/** A typed queue producer. */
export type TypedQueue<K extends QueueKind> = Queue<JobPayloads[K], unknown, string>;

/** Opens producers lazily and closes them all at once; one per process role. */
export interface QueueSet {
  get<K extends QueueKind>(kind: K, nodeId?: string): TypedQueue<K>;
  /** Adds one job with its deterministic id. */
  add<K extends QueueKind>(kind: K, jobId: string, data: JobPayloads[K], options?: { nodeId?: string; delayMs?: number }): Promise<void>;
  /** The state of a job by id, `missing` when there is none (what the repair sweep checks). */
  getJobState(kind: QueueKind, jobId: string, nodeId?: string): Promise<JobState>;
  /** Removes a finished job, so that its id can be used again; a job gone already is fine. */
  removeJob(kind: QueueKind, jobId: string, nodeId?: string): Promise<void>;
  /**
   * Whether each job exists, in any state, by plain reads of its key (no script, no producer): a role
   * that may only read a queue (the scheduler reads every node's `exec.<id>` and `votes.<id>`) can ask.
   */
  hasJobs(jobs: readonly JobRef[]): Promise<boolean[]>;
  /** Whether BullMQ holds each job of one queue as completed: one plain read (ZMSCORE of its completed set), however many ids. */
  areCompleted(kind: QueueKind, jobIds: readonly string[], nodeId?: string): Promise<boolean[]>;
  close(): Promise<void>;
}

export function createQueueSet(connection: Redis, keyPrefix: string, onError: (error: Error) => void = () => undefined): QueueSet {
  const queues = new Map<string, Queue>();
  const get = <K extends QueueKind>(kind: K, nodeId?: string): TypedQueue<K> => {
    const name = queueName(kind, nodeId);
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection, prefix: queuePrefix(keyPrefix, name), defaultJobOptions: DEFAULT_JOB_OPTIONS, streams: { events: { maxLen: 1000 } } });
      queue.on('error', onError);
      queues.set(name, queue);
    }
    return queue as unknown as TypedQueue<K>;
  };
  return {
    get,
    async add(kind, jobId, data, options = {}) {
      const queue = get(kind, options.nodeId) as unknown as Queue;
      await queue.add(kind, data, { jobId, ...(options.delayMs ? { delay: options.delayMs } : {}) });
    },
    async getJobState(kind, jobId, nodeId) {
      const job = await get(kind, nodeId).getJob(jobId);
      return job ? ((await job.getState()) as JobState) : 'missing';
    },
    async removeJob(kind, jobId, nodeId) {
      await (await get(kind, nodeId).getJob(jobId))?.remove().catch(() => undefined);
    },
    async hasJobs(jobs) {
      // BullMQ keeps job `id` of queue `q` in the hash `<queue prefix>:q:<id>`. One EXISTS each, not a
      // pipeline: the jobs may be in different queues, so in different hash slots.
      return Promise.all(jobs.map(async ({ kind, jobId, nodeId }) => {
        const name = queueName(kind, nodeId);
        return (await connection.exists(`${queuePrefix(keyPrefix, name)}:${name}:${jobId}`)) === 1;
      }));
    },
    async areCompleted(kind, ids, nodeId) {
      if (ids.length === 0) return [];
      const name = queueName(kind, nodeId);
      const scores = await connection.zmscore(`${queuePrefix(keyPrefix, name)}:${name}:completed`, ...ids);
      return scores.map((score) => score !== null);
    },
    async close() {
      const all = [...queues.values()];
      queues.clear();
      await Promise.all(all.map((q) => q.close()));
    },
  };
}
