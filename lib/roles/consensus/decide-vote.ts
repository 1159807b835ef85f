// Consensus decisions, pure: what to do with one vote, and whether the counted votes make a request final.
import { VOTING_STATUS } from '../../protocol/request-lifecycle.ts';
import { checkVote, computeVoteBinding, type Vote, type VoteRefusal } from '../../protocol/vote.ts';
import { computeTally, countedVotes } from '../../protocol/vote-tally.ts';
import type { Assignment, Failure, Outcome, RequestRecord, StoredVote } from '../../repository/types.ts';
import { MAX_ERROR_BYTES, utf8Length } from '../../sandbox/outcome.ts';

/** Why consensus refuses a vote: the protocol's reasons, a vote for no assigned request, or one too large to store. */
export type RefusalReason = VoteRefusal | 'unknown_request' | 'oversized';

export interface VoteInput {
  readonly vote: Vote;
  /** The request as stored; null when it does not exist. */
  readonly request: RequestRecord | null;
  /** The committee recomputed from the frozen tickets (the stored one is not trusted). */
  readonly committee: readonly string[];
  /** The voter's registered signing key; undefined for an unknown node. */
  readonly signPublicKey: Uint8Array | undefined;
  /** The operator's output ceiling: no larger result is stored. */
  readonly maxOutputBytes: number;
}

export type VoteDecision =
  | { readonly kind: 'refuse'; readonly reason: RefusalReason }
  /** Record it once, then tally; the store keeps it as `late` (never counted) when voting closed meanwhile or before. */
  | { readonly kind: 'record' }
  /** The same vote delivered again: no second effect, but finish what a crash may have cut short (tally the stored votes). */
  | { readonly kind: 'resume' }
  /** The same vote again, for a request that moved on. */
  | { readonly kind: 'skip'; readonly status: RequestRecord['status'] };

/**
 * Decides what to do with a vote: refuse it (bad signature, not a member, duplicate, too large…),
 * record it, or resume after a redelivery. A vote after finality passes the same checks and is
 * recorded too (the store marks it late, atomically with the status it reads).
 */
export function decideVote(input: VoteInput): VoteDecision {
  const { vote, request } = input;
  const refuse = (reason: RefusalReason): VoteDecision => ({ kind: 'refuse', reason });
  if (!request?.assignment) return refuse('unknown_request');
  const refusal = checkVote({
    requestId: request.id,
    round: request.assignment.round,
    committee: input.committee,
    votedNodeIds: request.votes.map((v) => v.nodeId),
    // Finality does not refuse a vote: a late one is kept (never counted) once it passes every check.
    isFinal: false,
    signPublicKey: input.signPublicKey,
    binding: computeVoteBinding(request, request.assignment),
  }, vote);
  const stored = request.votes.find((v) => v.nodeId === vote.nodeId);
  if (refusal === 'duplicate' && stored?.signature === vote.signature) {
    return request.status === VOTING_STATUS ? { kind: 'resume' } : { kind: 'skip', status: request.status };
  }
  if (refusal) return refuse(refusal);
  return isOversized(vote, input.maxOutputBytes) ? refuse('oversized') : { kind: 'record' };
}

export type FinalityDecision =
  | { readonly kind: 'pending' }
  /** `median` with `q` ok numbers but not all `k` votes: the grace period starts (or runs on). */
  | { readonly kind: 'grace' }
  | { readonly kind: 'fail'; readonly failure: Failure & { readonly code: 'no_quorum' } }
  /**
   * `voteCount` (a median value): the number of counted votes the median was taken from; the agreement
   * may apply only while they are all the votes there are, since one more would move the median.
   */
  | { readonly kind: 'agree'; readonly outcome: Outcome; readonly voteCount?: number };

/**
 * Whether the counted votes (in arrival order; late ones are skipped) make the request final: agreed on
 * a value (at `agreedAt`, an ISO timestamp), failed `no_quorum`, waiting for a median's grace period, or
 * still pending. `isClosed`: the grace period or the deadline passed, so a median takes what it has.
 */
export function decideFinality(assignment: Assignment, votes: readonly StoredVote[], agreedAt: string, isClosed = false): FinalityDecision {
  const size = assignment.committee.length;
  const counted = countedVotes(votes);
  const tally = computeTally({ committeeSize: size, quorum: assignment.quorum, aggregation: assignment.aggregation }, counted, isClosed);
  if (tally.status === 'pending') return { kind: 'pending' };
  if (tally.status === 'quorum') return { kind: 'grace' };
  if (tally.status === 'no_quorum') {
    return { kind: 'fail', failure: { code: 'no_quorum', message: `${counted.length} of ${size} votes and no value can reach the quorum of ${assignment.quorum}` } };
  }
  const { ok, value, resultHash, supporters } = tally;
  const isMedianValue = assignment.aggregation === 'median' && ok;
  return { kind: 'agree', outcome: { ok, value, resultHash, supporters, agreedAt }, ...(isMedianValue ? { voteCount: counted.length } : {}) };
}

// A result above the operator's output ceiling, or an error message above the cut every sandbox
// applies (4,096 bytes and the ellipsis): a vote carries user output, and nothing larger is stored.
function isOversized(vote: Vote, maxOutputBytes: number): boolean {
  try {
    if (!vote.ok) {
      const message = (vote.value as { error?: unknown } | null)?.error;
      return typeof message !== 'string' || utf8Length(message) > MAX_ERROR_BYTES + utf8Length('…');
    }
    return utf8Length(JSON.stringify(vote.value) ?? '') > maxOutputBytes;
  } catch {
    return true; // not serializable (nested too deep): nothing to store
  }
}
