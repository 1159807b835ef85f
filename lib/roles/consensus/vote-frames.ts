// What consensus checks a request's votes against (its assignment, the committee drawn again from the
// frozen tickets, the bytes a vote signs besides its own), built once per request and process, from
// one read of the request's fields that never change after its assignment.
import { computeVoteBinding, type VoteBinding } from '../../protocol/vote.ts';
import type { Repository } from '../../repository/index.ts';
import type { Assignment } from '../../repository/types.ts';
import type { Logger } from '../../logger.ts';
import { createCommitteeCache, recomputeCommittee } from '../committee-cache.ts';
import { createLoadCache } from '../load-cache.ts';

/** Requests whose frames a process keeps: the newest ones (a request's votes come within its deadline). */
const KEEP_REQUESTS = 10_000;

export interface VoteFrame {
  readonly request: { readonly id: string; readonly createdAt: string; readonly assignment: Assignment };
  /** The committee recomputed from the frozen tickets (the stored one is not trusted). */
  readonly committee: readonly string[];
  readonly binding: VoteBinding;
}

export interface VoteFrames {
  /** The frame of an assigned request; null when the request does not exist or is not assigned (nothing kept then). */
  get(requestId: string): Promise<VoteFrame | null>;
}

/**
 * Frames are kept only once a request is assigned: its accepted fields and its assignment never change
 * afterwards, so a kept frame is never stale. The request's input is not kept, only its hash in the binding.
 */
export function createVoteFrames(repository: Pick<Repository, 'getRequestHead' | 'getRound' | 'listTickets' | 'getNode'>, logger: Pick<Logger, 'error'>): VoteFrames {
  const committees = createCommitteeCache(repository, logger);

  async function load(requestId: string): Promise<VoteFrame | null> {
    const head = await repository.getRequestHead(requestId);
    if (!head?.assignment) return null;
    const request = { id: head.id, createdAt: head.createdAt, assignment: head.assignment };
    const committee = await recomputeCommittee(committees, request, () => {
      logger.error({ requestId, round: request.assignment.round }, 'stored committee differs from the recomputed one; using the recomputed one');
    });
    return { request, committee, binding: computeVoteBinding(head, head.assignment) };
  }

  // Only an assigned request's frame never changes: a miss (or a failed read) is read again by the
  // next vote; the votes of a committee that arrive together share one read.
  return { get: createLoadCache({ load, isKept: (frame) => frame !== null, maxEntries: KEEP_REQUESTS }) };
}
