// The sender's decision for one `publish` job, pure: append to the ledger, finish a chain hand-off, or nothing.
import { computeVotesDigest, type LedgerFields } from '../../protocol/ledger.ts';
import type { RequestRecord } from '../../repository/types.ts';

export type PublicationDecision =
  /** Agreed: append its entry (a no-op on a redelivery) and mark it published; a chain request then goes to the outbox. */
  | { readonly kind: 'publish'; readonly entry: Omit<LedgerFields, 'seq' | 'prevHash'>; readonly isChain: boolean }
  /** Published already, a chain request: make sure it is in the outbox (a crash may have come between the two writes). */
  | { readonly kind: 'requeue_outbox' }
  | { readonly kind: 'skip'; readonly status: RequestRecord['status'] };

export function decidePublication(request: RequestRecord): PublicationDecision {
  if (request.status === 'published' && request.source === 'chain') return { kind: 'requeue_outbox' };
  if (request.status !== 'agreed' || !request.outcome) return { kind: 'skip', status: request.status };
  return {
    kind: 'publish',
    isChain: request.source === 'chain',
    entry: {
      requestId: request.id,
      projectId: request.projectId,
      resultHash: request.outcome.resultHash,
      ok: request.outcome.ok,
      votesDigest: computeVotesDigest(request.votes),
    },
  };
}
