// Committee selectors per frozen round, built once per process and round (receiver, consensus and
// the sender's publication check), over the tickets of nodes whose records verify.
import { UnrecoverableError } from 'bullmq';
import { fromHex } from '../crypto/bytes.ts';
import { createCommitteeSelector, type CommitteeSelector } from '../protocol/committee.ts';
import type { Logger } from '../logger.ts';
import type { Repository } from '../repository/index.ts';
import { createLoadCache } from './load-cache.ts';
import { isNodeRecordBound } from './sign-keys.ts';

const KEEP_ROUNDS = 8;

export interface CommitteeCache {
  /** The selector over the frozen tickets of `round`; null while the round is not frozen yet. */
  get(round: number): Promise<CommitteeSelector | null>;
}

/**
 * A ticket counts only when its holder's record verifies (registration and id): one written past
 * the API, or a ticket of no registered node, is left out of every committee, with an error log.
 */
export function createCommitteeCache(repository: Pick<Repository, 'getRound' | 'listTickets' | 'getNode'>, logger: Pick<Logger, 'error'>): CommitteeCache {
  const load = async (round: number): Promise<CommitteeSelector | null> => {
    const record = await repository.getRound(round);
    if (!record?.frozen) return null;
    const tickets = await repository.listTickets(round);
    const nodes = await Promise.all(tickets.map((t) => repository.getNode(t.nodeId)));
    const counted = tickets.filter((t, i) => {
      const node = nodes[i];
      if (!node) logger.error({ nodeId: t.nodeId, round }, 'ticket of an unknown node left out');
      return node !== null && isNodeRecordBound(t.nodeId, node, logger);
    });
    return createCommitteeSelector(counted.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta, 64) })));
  };
  // Only frozen sets are immutable: a miss (or a failed read) is read again by the next call.
  const get = createLoadCache({ load, isKept: (selector) => selector !== null, maxEntries: KEEP_ROUNDS, oldest: (rounds) => Math.min(...rounds) });
  return { get: (round) => (round < 1 ? Promise.resolve(null) : get(round)) };
}

type AssignedRequest = { id: string; assignment?: { round: number; committee: readonly string[] } };

/**
 * The committee of an assigned request, drawn again from the frozen tickets of the round before its
 * assignment (the stored list is not trusted); null when that round has no frozen tickets.
 */
export async function drawCommittee(committees: CommitteeCache, request: AssignedRequest): Promise<readonly string[] | null> {
  const assignment = request.assignment!;
  const selector = await committees.get(assignment.round - 1);
  return selector ? selector.select(request.id, assignment.committee.length) : null;
}

/**
 * drawCommittee for a request that must have one: `onMismatch` hears when the stored list differs.
 * Throws UnrecoverableError when the round has no frozen tickets (the assignment cannot be right).
 */
export async function recomputeCommittee(committees: CommitteeCache, request: AssignedRequest, onMismatch: () => void): Promise<readonly string[]> {
  const recomputed = await drawCommittee(committees, request);
  if (!recomputed) throw new UnrecoverableError(`round ${request.assignment!.round - 1} has no frozen tickets`);
  if (recomputed.join() !== request.assignment!.committee.join()) onMismatch();
  return recomputed;
}
