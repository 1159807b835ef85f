// What a request adds to its committee members' statistics once its voting closed, pure.
import { countedVotes, isMedianNumber } from '../../protocol/vote-tally.ts';
import type { RequestNodeStats } from '../../repository/node-stats.ts';
import type { Assignment, Outcome, StoredVote } from '../../repository/types.ts';

/**
 * Per committee member: `missed` without a counted vote; with one, `agreed` or `disagreed` when the
 * request has an agreed result, and nothing when it failed without one (no_quorum, timeout). A median
 * result agrees with every ok number it was taken from; any other result with the votes carrying its
 * `(ok, resultHash)`. Late votes are counted as they are recorded, not here.
 */
export function computeRequestNodeStats(request: { readonly assignment?: Assignment; readonly outcome?: Outcome; readonly votes: readonly StoredVote[] }): RequestNodeStats {
  const { assignment, outcome } = request;
  if (!assignment) return {};
  const counted = new Map(countedVotes(request.votes).map((vote) => [vote.nodeId, vote]));
  const stats: Record<string, { agreed?: number; disagreed?: number; missed?: number }> = {};
  for (const nodeId of assignment.committee) {
    const vote = counted.get(nodeId);
    if (!vote) stats[nodeId] = { missed: 1 };
    else if (outcome) stats[nodeId] = agreesWith(vote, outcome, assignment.aggregation === 'median') ? { agreed: 1 } : { disagreed: 1 };
  }
  return stats;
}

function agreesWith(vote: StoredVote, outcome: Outcome, isMedian: boolean): boolean {
  if (isMedian && outcome.ok) return vote.ok && isMedianNumber(vote.value);
  return vote.ok === outcome.ok && vote.resultHash === outcome.resultHash;
}
