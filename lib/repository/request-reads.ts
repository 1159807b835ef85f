// Reading requests back: records with their votes, pages per project, the state indexes and counts.
import type { Redis } from 'ioredis';
import type { OpenStatus, RequestStatus } from '../protocol/request-lifecycle.ts';
import type { Keys } from './keys.ts';
import type { Assignment, ChainPublication, Failure, Outcome, Page, RequestRecord, StoredVote } from './types.ts';

/** What never changes once a request is assigned: its accepted fields and its assignment (no votes, no status). */
export type RequestHead = Omit<RequestRecord, 'status' | 'outcome' | 'failure' | 'ledger' | 'chain' | 'finishedAt' | 'votes'>;

/** The reads of a RequestStore. */
export interface RequestReads {
  getRequest(id: string): Promise<RequestRecord | null>;
  /** The accepted fields and the assignment, in one HMGET: no votes, nothing that changes after the assignment. */
  getRequestHead(id: string): Promise<RequestHead | null>;
  /** Several requests in one round trip; missing ids are skipped. */
  getRequests(ids: readonly string[]): Promise<RequestRecord[]>;
  /** Newest first; the cursor is the last id of the previous page (ids sort by creation time). */
  listProjectRequests(projectId: string, limit: number, cursor?: string): Promise<Page<RequestRecord>>;
  /** Ids that entered `status` before `beforeMs`, oldest first (for the repair sweep). */
  listStale(status: OpenStatus, beforeMs: number, limit: number): Promise<string[]>;
  /** The newest requests across projects, newest first (ids only; read them with getRequests). */
  listRecentRequestIds(limit: number): Promise<string[]>;
  /** Requests of the project not yet final (what admission counts). */
  countOpenRequests(projectId: string): Promise<number>;
  /** How many requests wait in `queued`. */
  countQueued(): Promise<number>;
  /** How many requests reached a final state since `sinceMs` (and are still kept: see retention). */
  countFinishedSince(sinceMs: number): Promise<number>;
}


/** The read half of the RequestStore: no method here writes. */
export function createRequestReads(redis: Redis, keys: Keys): RequestReads {
  async function getRequests(ids: readonly string[]): Promise<RequestRecord[]> {
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hgetall(keys.request(id)).hvals(keys.requestVotes(id));
    const replies = (await pipeline.exec()) ?? [];
    const items: RequestRecord[] = [];
    for (let i = 0; i < ids.length; i++) {
      const hash = replies[i * 2][1] as Record<string, string>;
      if (hash.base) items.push(toRecord(hash, replies[i * 2 + 1][1] as string[]));
    }
    return items;
  }

  return {
    async getRequest(id) {
      const [[, hash], [, votes]] = (await redis.multi().hgetall(keys.request(id)).hvals(keys.requestVotes(id)).exec()) as [[unknown, Record<string, string>], [unknown, string[]]];
      if (!hash.base) return null;
      return toRecord(hash, votes);
    },
    async getRequestHead(id) {
      const [base, assignment] = await redis.hmget(keys.request(id), 'base', 'assignment');
      if (!base) return null;
      return { ...(JSON.parse(base) as Omit<RequestHead, 'assignment'>), assignment: assignment ? (JSON.parse(assignment) as Assignment) : undefined };
    },
    getRequests,
    async listProjectRequests(projectId, limit, cursor) {
      const max = cursor ? `(${cursor}` : '+';
      const ids = await redis.zrevrangebylex(keys.projectRequests(projectId), max, '-', 'LIMIT', 0, limit + 1);
      const page = ids.slice(0, limit);
      return { items: await getRequests(page), nextCursor: ids.length > limit ? page[page.length - 1] : null };
    },
    listStale: (status, beforeMs, limit) => redis.zrangebyscore(keys.stateIndex(status), '-inf', `(${beforeMs}`, 'LIMIT', 0, limit),
    listRecentRequestIds: (limit) => redis.zrevrange(keys.recentRequests, 0, limit - 1),
    countOpenRequests: async (projectId) => Number((await redis.hget(keys.openRequests, projectId)) ?? 0),
    countQueued: () => redis.zcard(keys.stateIndex('queued')),
    countFinishedSince: (sinceMs) => redis.zcount(keys.finishedRequests, sinceMs, '+inf'),
  };
}

/** Stored votes (JSON) in arrival order. */
export function parseVotes(raw: readonly string[]): StoredVote[] {
  return raw.map((v) => JSON.parse(v) as StoredVote).sort((a, b) => a.seq - b.seq);
}

function toRecord(hash: Record<string, string>, votes: readonly string[]): RequestRecord {
  const base = JSON.parse(hash.base) as Omit<RequestRecord, 'status' | 'votes'>;
  const parse = <T>(field: string): T | undefined => (hash[field] ? (JSON.parse(hash[field]) as T) : undefined);
  const outcome = parse<Outcome>('outcome');
  const assignment = parse<Assignment>('assignment');
  return {
    ...base,
    status: hash.status as RequestStatus,
    assignment,
    outcome,
    failure: parse<Failure>('failure'),
    ledger: parse<{ seq: number; hash: string }>('ledger'),
    chain: parse<ChainPublication>('chain'),
    finishedAt: hash.finishedAt || undefined,
    votes: restoreCompacted(parseVotes(votes), outcome, assignment),
  };
}

/**
 * Votes as retention's compaction left them (retention.ts): a vote stored without the verdict,
 * result hash, value and round it shared with the outcome and the assignment (`sameAsOutcome`)
 * gets them back; a late vote whose value was dropped keeps `valueDropped` and no value.
 */
function restoreCompacted(votes: StoredVote[], outcome: Outcome | undefined, assignment: Assignment | undefined): StoredVote[] {
  return votes.map((vote) => {
    const stored = vote as StoredVote & { sameAsOutcome?: boolean };
    if (!stored.sameAsOutcome || !outcome || !assignment) return vote;
    const { sameAsOutcome: _same, ...rest } = stored;
    return { ...rest, round: assignment.round, ok: outcome.ok, resultHash: outcome.resultHash, value: outcome.value };
  });
}
