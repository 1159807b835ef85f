// Consensus decisions, pure: what to do with one vote, whether the counted votes make a request final,
// and whether a recorded vote is the one that decides it.
import { checkVote, type Vote, type VoteBinding, type VoteRefusal } from '../../protocol/vote.ts';
import { computeTally, countedVotes } from '../../protocol/vote-tally.ts';
import type { Assignment, Failure, Outcome, StoredVote } from '../../repository/types.ts';
import { MAX_ERROR_BYTES, utf8Length } from '../../sandbox/outcome.ts';

/** Why consensus refuses a vote: the protocol's reasons, a vote for no assigned request, or one too large to store. */
export type RefusalReason = VoteRefusal | 'unknown_request' | 'oversized';

export interface VoteInput {
  readonly vote: Vote;
  /** The request's id and assignment as stored; null when it does not exist. */
  readonly request: { readonly id: string; readonly assignment?: Assignment } | null;
  /** The committee recomputed from the frozen tickets (the stored one is not trusted). */
  readonly committee: readonly string[];
  /** What the vote's signature must cover (computeVoteBinding of the request and its assignment). */
  readonly binding: VoteBinding | undefined;
  /** The voter's registered signing key; undefined for an unknown node. */
  readonly signPublicKey: Uint8Array | undefined;
  /** The operator's output ceiling: no larger result is stored. */
  readonly maxOutputBytes: number;
}

export type VoteDecision =
  | { readonly kind: 'refuse'; readonly reason: RefusalReason }
  /**
   * Record it (once per node: the record script tells the same vote again, and refuses another vote of
   * that node as a duplicate), then see whether it decides; the store keeps it as `late` (never counted)
   * when voting closed meanwhile or before.
   */
  | { readonly kind: 'record'; readonly valueBytes: number };

/**
 * Decides what to do with a vote: refuse it (bad signature, not a member, too large…) or record it.
 * Every check that needs no state runs here, before the record; the one that needs the stored votes
 * (one vote per node) is the record script's, atomic with the write. A vote after finality passes
 * the same checks and is recorded too (the store marks it late, atomically with the status it reads).
 */
export function decideVote(input: VoteInput): VoteDecision {
  const { vote, request } = input;
  const refuse = (reason: RefusalReason): VoteDecision => ({ kind: 'refuse', reason });
  if (!request?.assignment || !input.binding) return refuse('unknown_request');
  const refusal = checkVote({
    requestId: request.id,
    round: request.assignment.round,
    committee: input.committee,
    votedNodeIds: [],
    // Finality does not refuse a vote: a late one is kept (never counted) once it passes every check.
    isFinal: false,
    signPublicKey: input.signPublicKey,
    binding: input.binding,
  }, vote);
  if (refusal) return refuse(refusal);
  const valueBytes = storedValueBytes(vote);
  return valueBytes === undefined || valueBytes > (vote.ok ? input.maxOutputBytes : MAX_ERROR_BYTES + utf8Length('…')) ? refuse('oversized') : { kind: 'record', valueBytes };
}

export type VoteEffect =
  /** Not final with this vote, or a median's grace period already running. */
  | { readonly kind: 'pending' }
  /** This vote brought a median to `q` ok numbers: its grace period starts. */
  | { readonly kind: 'grace' }
  /** Counted, but the votes before it had decided already: the vote that decided applies it. */
  | { readonly kind: 'counted' }
  /** This vote is the one that decides: it alone applies the decision. */
  | Extract<FinalityDecision, { kind: 'agree' | 'fail' }>;

/**
 * What a counted vote does, from every vote recorded so far (the record script's answer, in arrival
 * order). The tally is a function of the arrival order, and its decision never changes once taken:
 * the vote whose arrival first makes the counted votes final is the deciding one, so however the votes
 * race (in one consensus or several), exactly one of them agrees or fails the request, and a median's
 * grace period is started by the one vote that brought it to `q` ok numbers. The decision is taken on
 * the votes up to the deciding one, which is what a closed tally of all counted votes gives too.
 */
export function decideVoteEffect(assignment: Assignment, votes: readonly StoredVote[], nodeId: string, agreedAt: string): VoteEffect {
  const counted = countedVotes(votes);
  const at = counted.findIndex((vote) => vote.nodeId === nodeId);
  if (at < 0) return { kind: 'pending' };
  const before = decideFinality(assignment, counted.slice(0, at), agreedAt);
  if (before.kind === 'agree' || before.kind === 'fail') return { kind: 'counted' };
  const after = decideFinality(assignment, counted.slice(0, at + 1), agreedAt);
  if (after.kind === 'grace') return before.kind === 'grace' ? { kind: 'pending' } : after;
  return after;
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

// What a vote's output weighs: an ok vote's result as JSON, an error vote's message (UTF-8 bytes); a
// vote carries user output, and none above the operator's output ceiling, or an error message above
// the cut every sandbox applies (4,096 bytes and the ellipsis), is stored. Undefined: nothing to store
// (an error without a message, or a result that does not serialize: nested too deep).
function storedValueBytes(vote: Vote): number | undefined {
  try {
    if (!vote.ok) {
      const message = (vote.value as { error?: unknown } | null)?.error;
      return typeof message === 'string' ? utf8Length(message) : undefined;
    }
    return utf8Length(JSON.stringify(vote.value) ?? '');
  } catch {
    return undefined;
  }
}
