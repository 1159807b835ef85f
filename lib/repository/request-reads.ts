// Reading requests back: records with their votes, pages per project, the state indexes and counts.
import type { Redis } from 'ioredis';
import type { OpenStatus, RequestStatus } from '../protocol/request-lifecycle.ts';
import type { Keys } from './keys.ts';
import type { Assignment, ChainPublication, Failure, Outcome, Page, RequestRecord, StoredVote } from './types.ts';

/** What never changes once a request is assigned: its accepted fields and its assignment (no votes, no status). */
export type RequestHead = Omit<RequestRecord, 'status' | 'outcome' | 'failure' | 'ledger' | 'chain' | 'finishedAt' | 'votes'>;

/** A request's record without its votes. */
export type RequestState = Omit<RequestRecord, 'votes'>;

/** The reads of a RequestStore. */
export interface RequestReads {
  getRequest(id: string): Promise<RequestRecord | null>;
  /** The record without its votes, in one HGETALL (for a reader that needs no vote). */
  getRequestState(id: string): Promise<RequestState | null>;
  /** getRequestState of each id, in one round trip: null where a request is gone (in the ids' order). */
  getRequestStates(ids: readonly string[]): Promise<(RequestState | null)[]>;
  /** Whether the node's vote on the request is recorded (one HEXISTS: no vote is read). */
  hasVoted(id: string, nodeId: string): Promise<boolean>;
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
  // One command per key, sent together: requests live in different buckets (slots), so no pipeline
  // or MULTI may span them; auto-pipelining still sends them in one write per Redis node.
  async function getRequestState(id: string): Promise<RequestState | null> {
    const hash = await redis.hgetall(keys.request(id));
    return hash.base ? toState(hash) : null;
  }
  async function getRequests(ids: readonly string[]): Promise<RequestRecord[]> {
    const replies = await Promise.all(ids.map((id) => Promise.all([redis.hgetall(keys.request(id)), redis.hvals(keys.requestVotes(id))])));
    return replies.filter(([hash]) => hash.base).map(([hash, votes]) => toRecord(hash, votes));
  }
  // Every bucket's answer to one sorted-set read, merged by score: the first `limit` in that order.
  async function merged(read: (b: number) => Promise<string[]>, limit: number, order: 'asc' | 'desc'): Promise<string[]> {
    const replies = await Promise.all(keys.bucketNumbers.map(read));
    if (replies.length === 1) return replies[0].filter((_, i) => i % 2 === 0);
    const items: { id: string; score: number }[] = [];
    for (const reply of replies) for (let i = 0; i < reply.length; i += 2) items.push({ id: reply[i], score: Number(reply[i + 1]) });
    items.sort((a, b) => (order === 'asc' ? a.score - b.score : b.score - a.score) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return items.slice(0, limit).map((item) => item.id);
  }
  const sum = async (read: (b: number) => Promise<number>) => (await Promise.all(keys.bucketNumbers.map(read))).reduce((a, b) => a + b, 0);

  return {
    // Two plain reads, not a MULTI (which costs two more commands): the record is read first, and
    // nothing read after it can contradict it, since votes are only added (a late one is marked so)
    // and the record's status only moves forward; a request removed in between reads as one with no votes.
    async getRequest(id) {
      const [hash, votes] = await Promise.all([redis.hgetall(keys.request(id)), redis.hvals(keys.requestVotes(id))]);
      if (!hash.base) return null;
      return toRecord(hash, votes);
    },
    getRequestState,
    getRequestStates: (ids) => Promise.all(ids.map(getRequestState)),
    // The votes hash is keyed by node id (requests.ts RECORD_VOTE).
    hasVoted: async (id, nodeId) => (await redis.hexists(keys.requestVotes(id), nodeId)) === 1,
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
    listStale: (status, beforeMs, limit) =>
      merged((b) => redis.zrangebyscore(keys.stateIndex(b, status), '-inf', `(${beforeMs}`, 'WITHSCORES', 'LIMIT', 0, limit), limit, 'asc'),
    listRecentRequestIds: (limit) => merged((b) => redis.zrevrange(keys.recentRequests(b), 0, limit - 1, 'WITHSCORES'), limit, 'desc'),
    countOpenRequests: (projectId) => redis.zcard(keys.projectOpen(projectId)),
    countQueued: () => sum((b) => redis.zcard(keys.stateIndex(b, 'queued'))),
    countFinishedSince: (sinceMs) => sum((b) => redis.zcount(keys.finishedRequests(b), sinceMs, '+inf')),
  };
}

/** Stored votes (JSON) in arrival order. */
export function parseVotes(raw: readonly string[]): StoredVote[] {
  return raw.map((v) => JSON.parse(v) as StoredVote).sort((a, b) => a.seq - b.seq);
}

function toState(hash: Record<string, string>): RequestState {
  const base = JSON.parse(hash.base) as Omit<RequestRecord, 'status' | 'votes'>;
  const parse = <T>(field: string): T | undefined => (hash[field] ? (JSON.parse(hash[field]) as T) : undefined);
  return {
    ...base,
    status: hash.status as RequestStatus,
    assignment: parse<Assignment>('assignment'),
    outcome: parse<Outcome>('outcome'),
    failure: parse<Failure>('failure'),
    ledger: parse<{ seq: number; hash: string }>('ledger'),
    chain: parse<ChainPublication>('chain'),
    finishedAt: hash.finishedAt || undefined,
  };
}

function toRecord(hash: Record<string, string>, votes: readonly string[]): RequestRecord {
  const state = toState(hash);
  return { ...state, votes: restoreCompacted(parseVotes(votes), state.outcome, state.assignment) };
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
