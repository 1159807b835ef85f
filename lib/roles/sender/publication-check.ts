// The sender's publication check: loads what verifyOutcome needs (the committee drawn again from the
// committed tickets, the voters' registered keys) and says why a stored outcome must not be published.
import type { Logger } from '../../logger.ts';
import { verifyOutcome } from '../../protocol/verify-outcome.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestRecord } from '../../repository/types.ts';
import { createCommitteeCache, drawCommittee } from '../committee-cache.ts';
import { createSignKeyCache } from '../sign-keys.ts';

/** Null when the request's stored outcome follows from its signed votes; else the reason it does not. */
export function createPublicationCheck(repository: Pick<Repository, 'getNode' | 'getRound' | 'listTickets'>, logger: Pick<Logger, 'error'>): (request: RequestRecord) => Promise<string | null> {
  const committees = createCommitteeCache(repository, logger);
  const signKeyOf = createSignKeyCache(repository, logger);
  return async (request) => {
    if (!request.assignment) return 'no assignment';
    const committee = await drawCommittee(committees, request);
    if (!committee) return `round ${request.assignment.round - 1} has no frozen tickets`;
    const keys = new Map<string, Uint8Array>();
    for (const vote of request.votes) {
      const key = await signKeyOf(vote.nodeId);
      if (key) keys.set(vote.nodeId, key);
    }
    return verifyOutcome(request, committee, keys);
  };
}
