// The receiver's decision for one `incoming` job: pure, from what the shell loaded.
import type { RequestState } from '../../repository/request-reads.ts';
import type { Assignment, Failure, Project, RequestRecord } from '../../repository/types.ts';

/** The committee draw the shell offers: the frozen tickets of the previous round, and the current round. */
export interface DrawContext {
  /** The round the assignment would be written in, with its seed (hex); null before the first round. */
  readonly round: { readonly number: number; readonly seed: string } | null;
  /** Eligible nodes (tickets frozen in the previous round) and the draw over them; null while that round is not frozen. */
  readonly selector: { readonly eligible: number; select(requestId: string, size: number): readonly string[] } | null;
}

export interface AssignmentInput extends DrawContext {
  /** What the decision reads of the request (no decision here depends on its votes). */
  readonly request: Pick<RequestState, 'id' | 'status' | 'assignment' | 'createdAt'>;
  readonly project: Project | null;
  readonly nowMs: number;
  /** `nowMs` as an ISO timestamp (the assignment's `assignedAt`). */
  readonly nowIso: string;
  readonly assignWaitMs: number;
  readonly roundMs: number;
}

export type AssignmentDecision =
  /** Nothing to do: the request moved on already. */
  | { readonly kind: 'skip'; readonly status: RequestRecord['status'] }
  /** A redelivery after the assignment was written: make sure its jobs exist (their ids dedupe them). */
  | { readonly kind: 'redispatch'; readonly assignment: Assignment }
  /** Too few eligible nodes yet: look again at `untilMs`. */
  | { readonly kind: 'wait'; readonly untilMs: number }
  | { readonly kind: 'fail'; readonly failure: Failure & { readonly code: 'rejected' | 'no_nodes' } }
  | { readonly kind: 'assign'; readonly assignment: Assignment };

/** How long a waiting request sleeps before it looks again: a round, at most a second. */
const MAX_WAIT_STEP_MS = 1000;

/**
 * Decides what to do with a request taken from `incoming`: assign a committee of exactly the
 * project's size k from the previous round's frozen tickets, wait while fewer than k nodes are
 * eligible (up to `assignWaitMs` after acceptance), or fail it (`rejected` without its project,
 * `no_nodes` after the wait).
 */
export function decideAssignment(input: AssignmentInput): AssignmentDecision {
  const { request, project, round, selector, nowMs } = input;
  if (request.status === 'assigned' && request.assignment) return { kind: 'redispatch', assignment: request.assignment };
  if (request.status !== 'queued') return { kind: 'skip', status: request.status };
  if (!project) return { kind: 'fail', failure: { code: 'rejected', message: 'the project no longer exists' } };
  // Exactly k members or none: a smaller committee would keep the quorum q while fewer honest nodes vote.
  const eligible = selector?.eligible ?? 0;
  if (!selector || !round || eligible < project.committee.size) {
    if (nowMs - Date.parse(request.createdAt) < input.assignWaitMs) return { kind: 'wait', untilMs: nowMs + Math.min(input.roundMs, MAX_WAIT_STEP_MS) };
    return { kind: 'fail', failure: { code: 'no_nodes', message: `${eligible} eligible node(s), the committee needs ${project.committee.size}` } };
  }
  return {
    kind: 'assign',
    assignment: {
      round: round.number,
      roundSeed: round.seed,
      committee: selector.select(request.id, project.committee.size),
      quorum: project.committee.quorum,
      aggregation: project.aggregation,
      assignedAt: input.nowIso,
    },
  };
}
