// Committee selectors per frozen round, built once per process and round (receiver and consensus).
import { UnrecoverableError } from 'bullmq';
import { fromHex } from '../crypto/bytes.ts';
import { createCommitteeSelector, type CommitteeSelector } from '../protocol/committee.ts';
import type { Repository } from '../repository/index.ts';

const KEEP_ROUNDS = 8;

export interface CommitteeCache {
  /** The selector over the frozen tickets of `round`; null while the round is not frozen yet. */
  get(round: number): Promise<CommitteeSelector | null>;
}

export function createCommitteeCache(repository: Pick<Repository, 'getRound' | 'listTickets'>): CommitteeCache {
  const cache = new Map<number, Promise<CommitteeSelector | null>>();
  const load = async (round: number): Promise<CommitteeSelector | null> => {
    const record = await repository.getRound(round);
    if (!record?.frozen) return null;
    const tickets = await repository.listTickets(round);
    return createCommitteeSelector(tickets.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta, 64) })));
  };
  return {
    get(round) {
      if (round < 1) return Promise.resolve(null);
      let entry = cache.get(round);
      if (!entry) {
        entry = load(round);
        cache.set(round, entry);
        // Only frozen sets are immutable: forget a miss, or a failure, so the next call reloads.
        entry.then((selector) => { if (!selector) cache.delete(round); }, () => cache.delete(round));
        if (cache.size > KEEP_ROUNDS) cache.delete(Math.min(...cache.keys()));
      }
      return entry;
    },
  };
}

/**
 * The committee of an assigned request, drawn again from the frozen tickets of the round before its
 * assignment: the stored list is not trusted. `onMismatch` hears when the two differ. Throws
 * UnrecoverableError when that round has no frozen tickets (the assignment cannot be right).
 */
export async function recomputeCommittee(committees: CommitteeCache, request: { id: string; assignment?: { round: number; committee: readonly string[] } }, onMismatch: () => void): Promise<readonly string[]> {
  const assignment = request.assignment!;
  const selector = await committees.get(assignment.round - 1);
  if (!selector) throw new UnrecoverableError(`round ${assignment.round - 1} has no frozen tickets`);
  const recomputed = selector.select(request.id, assignment.committee.length);
  if (recomputed.join() !== assignment.committee.join()) onMismatch();
  return recomputed;
}
