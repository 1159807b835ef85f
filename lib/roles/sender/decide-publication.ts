// The sender's decision for one `publish` job, pure: append to the ledger, finish a chain hand-off, or nothing.
import { toHex } from '../../crypto/bytes.ts';
import { computeVotesDigest, type LedgerFields } from '../../protocol/ledger.ts';
import { computeInputHash } from '../../protocol/vote.ts';
import type { Assignment, Outcome, RequestRecord } from '../../repository/types.ts';

export type PublicationDecision =
  /** Agreed: append its entry (a no-op on a redelivery) and mark it published; a chain request then goes to the outbox. */
  | { readonly kind: 'publish'; readonly entry: Omit<LedgerFields, 'seq' | 'prevHash'>; readonly isChain: boolean }
  /** Published already, a chain request: make sure it is in the outbox (a crash may have come between the two writes). */
  | { readonly kind: 'requeue_outbox' }
  | { readonly kind: 'skip'; readonly status: RequestRecord['status'] };

export function decidePublication(request: RequestRecord): PublicationDecision {
  if (request.status === 'published' && request.source === 'chain') return { kind: 'requeue_outbox' };
  if (request.status !== 'agreed' || !request.outcome || !request.assignment) return { kind: 'skip', status: request.status };
  const { assignment, outcome } = request;
  return { kind: 'publish', isChain: request.source === 'chain', entry: computeLedgerFields({ ...request, assignment, outcome }) };
}

/**
 * Ledger entry v2 of an agreed request, without `seq` and `prevHash`: what ran, under which rule,
 * the verdict, and the digest of the votes that counted. The chain publisher computes it again to
 * check that a request still says what its ledger entry says.
 */
export function computeLedgerFields(request: RequestRecord & { readonly assignment: Assignment; readonly outcome: Outcome }): Omit<LedgerFields, 'seq' | 'prevHash'> {
  const { assignment, outcome } = request;
  return {
    requestId: request.id,
    projectId: request.projectId,
    codeCid: request.codeCid,
    inputHash: toHex(computeInputHash(request.input)),
    createdAt: request.createdAt,
    round: assignment.round,
    k: assignment.committee.length,
    q: assignment.quorum,
    aggregation: assignment.aggregation,
    ok: outcome.ok,
    resultHash: outcome.resultHash,
    votesDigest: computeVotesDigest(request.votes),
  };
}
