// The tally (docs/architecture.md, "Votes, consensus, aggregation"): when a request's accepted votes
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

/** A recorded vote, in arrival order. A `late` vote was recorded after finality: it never counts. */
export interface TalliedVote {
  readonly nodeId: string;
  readonly ok: boolean;
  readonly resultHash: string;
  readonly value: unknown;
  readonly late?: boolean;
}

export type TallyOutcome =
  | { readonly status: 'pending' }
  /** `median` only: `q` ok numeric votes are in but not all `k` votes; the median is taken once the tally closes (grace period or deadline). */
  | { readonly status: 'quorum' }
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

/** The counted votes: every vote recorded before finality (late votes never count), in arrival order. */
export function countedVotes<T extends { readonly late?: boolean }>(votes: readonly T[]): T[] {
  return votes.filter((vote) => vote.late !== true);
}

/** True for a value a `median` takes: an ok vote's JSON number. */
export function isMedianNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Tallies the counted votes (late ones are skipped) in arrival order.
 *
 * `exact`: agreed at the first vote that brings some `(ok, resultHash)` to the quorum, so later votes
 * never change it. `median`: ok votes must be numbers (an ok non-number supports nothing); once `q` ok
 * numbers are in before any error reached `q`, the result is the lower median of every counted ok
 * number, taken when all `k` votes are in or the tally is closed (`isClosed`: the grace period or the
 * deadline passed), and `quorum` until then; `q` votes agreeing on one error first make that error
 * the result. Both: `no_quorum` as soon as no value can reach `q` with the votes still outstanding.
 * Throws a RangeError for a rule with `quorum` outside `1..committeeSize`.
 */
export function computeTally(rule: TallyRule, votes: readonly TalliedVote[], isClosed = false): TallyOutcome {
  const { committeeSize, quorum } = rule;
  if (!Number.isSafeInteger(committeeSize) || committeeSize < 1) throw new RangeError(`bad committee size ${committeeSize}`);
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > committeeSize) throw new RangeError(`bad quorum ${quorum} for committee of ${committeeSize}`);
  const counted = countedVotes(votes);
  const isMedian = rule.aggregation === 'median';
  const groups = new Map<string, TalliedVote[]>();
  const numbers: { nodeId: string; value: number }[] = [];
  let largestGroup = 0;
  for (const vote of counted) {
    if (isMedian && vote.ok) {
      if (isMedianNumber(vote.value)) numbers.push({ nodeId: vote.nodeId, value: vote.value });
      continue;
    }
    // Under median, numbers that reached the quorum first decide: later errors no longer can.
    if (numbers.length >= quorum) continue;
    const key = `${vote.ok ? 1 : 0}:${vote.resultHash}`;
    const group = groups.get(key) ?? [];
    group.push(vote);
    groups.set(key, group);
    largestGroup = Math.max(largestGroup, group.length);
    if (group.length >= quorum) {
      return { status: 'agreed', ok: vote.ok, value: group[0].value, resultHash: vote.resultHash, supporters: group.map((v) => v.nodeId) };
    }
  }
  if (numbers.length >= quorum) return isClosed || counted.length >= committeeSize ? agreeOnMedian(numbers) : { status: 'quorum' };
  const outstanding = Math.max(0, committeeSize - counted.length);
  const best = Math.max(largestGroup, numbers.length);
  return best + outstanding < quorum ? { status: 'no_quorum' } : { status: 'pending' };
}

/** The lower median (the lower of the two middle values for an even count) of every counted ok number. */
function agreeOnMedian(numbers: readonly { nodeId: string; value: number }[]): TallyOutcome {
  const sorted = numbers.map((n) => n.value).sort((a, b) => a - b);
  const value = sorted[Math.floor((sorted.length - 1) / 2)];
  return { status: 'agreed', ok: true, value, resultHash: toHex(computeResultHash(value)), supporters: numbers.map((n) => n.nodeId) };
}
