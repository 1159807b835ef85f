// Reading what a request's receipt is assembled from: the published request, the rounds from its
// committee's ticket round to the round that anchors its ledger entry, the ticket set, the ticket
// holders' node records and the ledger entries up to the anchor's head. Reads only.
import type { Redis } from 'ioredis';
import { GENESIS_PREV_HASH } from '../protocol/ledger.ts';
import type { ReceiptSources } from '../protocol/receipt.ts';
import type { Keys } from './keys.ts';
import { createLedgerReads } from './ledger.ts';
import { createRequestReads } from './request-reads.ts';
import { createRoundStore } from './rounds.ts';
import type { NodeRecord, RequestRecord, RequestStatus, RoundRecord } from './types.ts';

/**
 * What getReceiptSources found: the sources; or why there is no receipt yet (the request is not
 * published, or no round has anchored its ledger entry yet); or no such request; or a round it
 * needs was removed by retention (`gone`).
 */
export type ReceiptRead =
  | { readonly kind: 'ready'; readonly sources: Omit<ReceiptSources, 'counterPublicKey'> }
  | { readonly kind: 'not_published'; readonly status: RequestStatus }
  | { readonly kind: 'not_anchored'; readonly seq: number; readonly latestRound: number }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'gone'; readonly round: number };

export interface ReceiptStore {
  /** The records a request's receipt is built from (protocol v2, "Receipt"), read as they are now. */
  getReceiptSources(requestId: string): Promise<ReceiptRead>;
}

type PublishedRequest = RequestRecord & Required<Pick<RequestRecord, 'assignment' | 'outcome' | 'ledger'>>;

/** The receipt reads over the shared connection. */
export function createReceiptStore(redis: Redis, keys: Keys): ReceiptStore {
  const requests = createRequestReads(redis, keys);
  const rounds = createRoundStore(redis, keys);
  const ledger = createLedgerReads(redis, keys);

  async function getRound(n: number): Promise<RoundRecord> {
    const round = await rounds.getRound(n);
    if (!round) throw new MissingRoundError(n);
    return round;
  }

  // Ledger lengths only grow from round to round: the first round at or past `seq` is found by bisection.
  async function findAnchorRound(after: number, seq: number): Promise<{ anchor: RoundRecord | null; latest: number }> {
    const latest = await rounds.getLatestRoundNumber();
    if (latest <= after) return { anchor: null, latest };
    let found = await getRound(latest);
    if (found.ledgerLength < seq) return { anchor: null, latest };
    let [low, high] = [after + 1, latest];
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const round = await getRound(middle);
      if (round.ledgerLength >= seq) [high, found] = [middle, round];
      else low = middle + 1;
    }
    return { anchor: found, latest };
  }

  async function listNodes(ids: readonly string[]): Promise<NodeRecord[]> {
    if (ids.length === 0) return [];
    const docs = await redis.hmget(keys.nodes, ...ids);
    return docs.filter((doc): doc is string => doc !== null).map((doc) => JSON.parse(doc) as NodeRecord);
  }

  return {
    async getReceiptSources(requestId) {
      try {
        return await readSources(requestId);
      } catch (error) {
        if (error instanceof MissingRoundError) return { kind: 'gone', round: error.round };
        throw error;
      }
    },
  };

  async function readSources(requestId: string): Promise<ReceiptRead> {
    const request = await requests.getRequest(requestId);
    if (!request) return { kind: 'not_found' };
    if (request.status !== 'published' || !request.assignment || !request.outcome || !request.ledger) return { kind: 'not_published', status: request.status };
    const published = request as PublishedRequest;
    const { round: a } = published.assignment;
    const { seq } = published.ledger;
    const { anchor, latest } = await findAnchorRound(a, seq);
    if (!anchor) return { kind: 'not_anchored', seq, latestRound: latest };
    const numbers = Array.from({ length: anchor.round - a + 1 }, (_, i) => a - 1 + i);
    const [before, earlier, tickets, page] = await Promise.all([
      a - 2 >= 1 ? getRound(a - 2) : null,
      Promise.all(numbers.map(getRound)),
      rounds.listTickets(a - 1),
      // The entry and every later one up to the anchor's head: seq..ledgerLength.
      ledger.listLedger(seq - 1, anchor.ledgerLength - seq + 1),
    ]);
    const nodes = await listNodes(tickets.map((t) => t.nodeId));
    return {
      kind: 'ready',
      sources: { request: published, previousSeed: before ? before.seed : GENESIS_PREV_HASH, rounds: [...earlier, anchor], tickets, nodes, entries: page.items },
    };
  }
}

/** A round a receipt needs is not in Redis: retention removed it. */
class MissingRoundError extends Error {
  readonly round: number;
  constructor(round: number) {
    super(`round ${round} is missing`);
    this.round = round;
  }
}
