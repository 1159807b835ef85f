// Consensus's decision for one entry of the due-time index, pure: a deadline applies only when it has
// really passed by the request's own accepted-at time and consensus's clock, never on the entry's word.
import type { DueEntry } from '../../repository/due.ts';
import type { Failure, Outcome, RequestRecord } from '../../repository/types.ts';
import { INITIAL_STATUS, VOTING_STATUS } from '../../protocol/request-lifecycle.ts';
import { decideFinality } from './decide-vote.ts';

export interface DueInput {
  readonly entry: DueEntry;
  /** The request as stored; null when it does not exist. */
  readonly request: RequestRecord | null;
  /** Consensus's clock, in ms and as an ISO timestamp (the agreement time). */
  readonly nowMs: number;
  readonly nowIso: string;
  /** `GATEWAY_REQUEST_DEADLINE_MS`: a request's deadline is its accepted-at time plus this. */
  readonly requestDeadlineMs: number;
}

export type DueDecision =
  /** Nothing to apply (the request is gone, or a grace period found nothing to finalize): remove the entry. */
  | { readonly kind: 'drop' }
  /** Voting closed already: count the nodes' statistics (once per request), then remove the request's entries. */
  | { readonly kind: 'settle' }
  /** A deadline entry due before the request's own deadline: move it there and apply nothing. */
  | { readonly kind: 'move'; readonly dueAtMs: number }
  | { readonly kind: 'fail'; readonly failure: Failure }
  | { readonly kind: 'agree'; readonly outcome: Outcome; readonly voteCount?: number };

/**
 * What a due entry does. A deadline that passed fails the request `timeout` (from `queued` or
 * `assigned`), unless its counted votes decide it as a closed tally: a median with `q` ok numbers
 * finalizes with what it has, and a decided exact or error result or `no_quorum` stands. A grace
 * period that passed closes a median's tally the same way; otherwise it changes nothing (the deadline
 * stays). A request whose voting closed (agreed, failed, published) is only settled.
 */
export function decideDue(input: DueInput): DueDecision {
  const { entry, request, nowMs, nowIso } = input;
  if (!request) return { kind: 'drop' };
  if (request.status !== INITIAL_STATUS && request.status !== VOTING_STATUS) return request.assignment ? { kind: 'settle' } : { kind: 'drop' };
  const closed = request.assignment ? decideFinality(request.assignment, request.votes, nowIso, true) : undefined;
  const decided = closed?.kind === 'agree' || closed?.kind === 'fail' ? closed : undefined;
  if (entry.kind === 'grace') return decided ?? { kind: 'drop' };
  const dueAtMs = Date.parse(request.createdAt) + input.requestDeadlineMs;
  if (nowMs < dueAtMs) return { kind: 'move', dueAtMs };
  return decided ?? { kind: 'fail', failure: { code: 'timeout', message: `no agreed result within ${input.requestDeadlineMs} ms of acceptance` } };
}
