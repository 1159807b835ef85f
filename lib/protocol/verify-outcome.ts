// The publication check (protocol v2): before a result is appended or sent to a chain, its stored
// outcome is re-derived from the signed votes alone. Nothing is published on the word of the store.
import { fromHex } from '../crypto/bytes.ts';
import { checkVote, computeVoteBinding, valueMatchesHash, type Vote } from './vote.ts';
import { computeTally, countedVotes, type Aggregation } from './vote-tally.ts';

/** What the check reads: the request as stored, with its assignment, votes and outcome. */
export interface StoredOutcome {
  readonly id: string;
  readonly createdAt: string;
  readonly codeCid: string;
  readonly input: unknown;
  readonly assignment?: { readonly round: number; readonly committee: readonly string[]; readonly quorum: number; readonly aggregation: Aggregation };
  readonly outcome?: { readonly ok: boolean; readonly resultHash: string; readonly value: unknown };
  /** Every recorded vote; `late` ones (recorded after finality) are not checked and never count. */
  readonly votes: readonly (Omit<Vote, 'requestId'> & { readonly late?: boolean })[];
}

/**
 * Null when the stored outcome follows from the counted votes: the stored committee is the one drawn
 * again from the committed ticket set (`committee`), every counted vote is a member's, signed over the
 * v2 bytes with its registered key (`signKeys`), one per node, and tallying them as a closed tally
 * gives the stored verdict and result hash (`exact`: `q` agreeing; `median`: the lower median of all
 * counted ok numbers, at least `q` of them; or `q` agreeing on one error). Otherwise the first reason
 * it does not.
 */
export function verifyOutcome(request: StoredOutcome, committee: readonly string[], signKeys: ReadonlyMap<string, Uint8Array>): string | null {
  const { assignment, outcome } = request;
  if (!assignment || !outcome) return 'no assignment or outcome';
  if (committee.join() !== assignment.committee.join()) return 'the stored committee is not the one drawn from the committed tickets';
  let binding;
  try {
    binding = computeVoteBinding(request, assignment);
  } catch {
    return 'the request cannot be bound (code id or input)';
  }
  const counted = countedVotes(request.votes);
  const seen: string[] = [];
  for (const stored of counted) {
    const vote: Vote = { ...stored, requestId: request.id };
    const refusal = checkVote({ requestId: request.id, round: assignment.round, committee, votedNodeIds: seen, isFinal: false, signPublicKey: signKeys.get(vote.nodeId), binding }, vote);
    if (refusal) return `the vote of ${vote.nodeId} does not verify (${refusal})`;
    seen.push(vote.nodeId);
  }
  // Closed: an outcome is published only after finality, when the counted votes are all there are.
  const tally = computeTally({ committeeSize: committee.length, quorum: assignment.quorum, aggregation: assignment.aggregation }, counted, true);
  if (tally.status !== 'agreed') return `the votes do not reach the quorum of ${assignment.quorum}`;
  if (tally.ok !== outcome.ok || tally.resultHash !== outcome.resultHash) return 'the stored result is not the one the votes agree on';
  // The tally's hash is the stored one (checked above), and 64 hex characters: it decodes.
  if (!valueMatchesHash(outcome.value, fromHex(tally.resultHash, 32))) return 'the stored value does not match its result hash';
  return null;
}
