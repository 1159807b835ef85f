// The tally (ARCHITECTURE.md, "Votes, consensus, aggregation"): when a request's accepted votes
// make it final, which value wins, and when no value can reach the quorum any more.
import { toHex } from '../crypto/bytes.ts';
import { computeResultHash } from '../crypto/canonical-json.ts';

export const AGGREGATIONS = ['exact', 'median'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** A project's committee rule for one request. `committeeSize` is the committee actually drawn. */
export interface TallyRule {
  readonly committeeSize: number;
  readonly quorum: number;
  readonly aggregation: Aggregation;
}

/** An accepted vote, in arrival order. */
export interface TalliedVote {
  readonly nodeId: string;
  readonly ok: boolean;
  readonly resultHash: string;
  readonly value: unknown;
}

export type TallyOutcome =
  | { readonly status: 'pending' }
  | {
      readonly status: 'agreed';
      readonly ok: boolean;
      readonly value: unknown;
      readonly resultHash: string;
      /** The nodes whose votes produced the value. */
      readonly supporters: readonly string[];
    }
  | { readonly status: 'no_quorum' };

/** The default quorum for a committee of k: a strict majority, `floor(k/2)+1`. */
export function defaultQuorum(committeeSize: number): number {
  return Math.floor(committeeSize / 2) + 1;
}

/**
 * Tallies accepted votes in arrival order. Agreement is decided at the first vote that lets
 * some value reach the quorum, so later votes never change a decided outcome.
 * Throws a RangeError for a rule with `quorum` outside `1..committeeSize`.
 */
export function computeTally(rule: TallyRule, votes: readonly TalliedVote[]): TallyOutcome {
  const { committeeSize, quorum } = rule;
  if (!Number.isSafeInteger(committeeSize) || committeeSize < 1) throw new RangeError(`bad committee size ${committeeSize}`);
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > committeeSize) throw new RangeError(`bad quorum ${quorum} for committee of ${committeeSize}`);
  const groups = new Map<string, TalliedVote[]>();
  const numbers: { nodeId: string; value: number }[] = [];
  let largestGroup = 0;
  for (const vote of votes) {
    if (rule.aggregation === 'median' && vote.ok && typeof vote.value === 'number' && Number.isFinite(vote.value)) {
      numbers.push({ nodeId: vote.nodeId, value: vote.value });
      if (numbers.length >= quorum) return agreeOnMedian(numbers);
      continue;
    }
    const key = `${vote.ok ? 1 : 0}:${vote.resultHash}`;
    const group = groups.get(key) ?? [];
    group.push(vote);
    groups.set(key, group);
    largestGroup = Math.max(largestGroup, group.length);
    if (group.length >= quorum) {
      return { status: 'agreed', ok: vote.ok, value: group[0].value, resultHash: vote.resultHash, supporters: group.map((v) => v.nodeId) };
    }
  }
  const outstanding = Math.max(0, committeeSize - votes.length);
  const best = Math.max(largestGroup, numbers.length);
  return best + outstanding < quorum ? { status: 'no_quorum' } : { status: 'pending' };
}

function agreeOnMedian(numbers: readonly { nodeId: string; value: number }[]): TallyOutcome {
  const sorted = numbers.map((n) => n.value).sort((a, b) => a - b);
  const value = sorted[Math.floor((sorted.length - 1) / 2)];
  return { status: 'agreed', ok: true, value, resultHash: toHex(computeResultHash(value)), supporters: numbers.map((n) => n.nodeId) };
}
