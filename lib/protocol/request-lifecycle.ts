// The request lifecycle (docs/architecture.md, "Request lifecycle"): the statuses, the allowed transitions as data, and what follows from them.

/** Every status a request can have, in lifecycle order. */
export const REQUEST_STATUSES = ['queued', 'assigned', 'agreed', 'published', 'failed'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/**
 * For each status a transition enters, the statuses it may leave. Nothing enters `queued`: a
 * request is created in it (or, refused for its input, created `failed`).
 */
export const TRANSITIONS = {
  assigned: ['queued'],
  agreed: ['assigned'],
  published: ['agreed'],
  failed: ['queued', 'assigned', 'agreed'],
} as const satisfies Partial<Record<RequestStatus, readonly RequestStatus[]>>;

/** A status some transition enters. */
export type TransitionTarget = keyof typeof TRANSITIONS;

/**
 * A status some transition leaves: the request is not final yet, holds an admission slot of its
 * project and sits in the index of its status (what the repair sweep reads).
 */
export type OpenStatus = (typeof TRANSITIONS)[TransitionTarget][number];

/** A status no transition leaves. */
export type FinalStatus = Exclude<RequestStatus, OpenStatus>;

/** The status a request is created in. */
export const INITIAL_STATUS = 'queued' satisfies OpenStatus;

/** The status a request refused for its input at acceptance is created in: it never runs. */
export const REJECTED_STATUS = 'failed' satisfies FinalStatus;

/** The status in which the committee's votes are recorded (once per node). */
export const VOTING_STATUS = 'assigned' satisfies OpenStatus;

/** The statuses `to` may be entered from; none for `queued`. */
export function allowedFrom(to: RequestStatus): readonly OpenStatus[] {
  return Object.hasOwn(TRANSITIONS, to) ? TRANSITIONS[to as TransitionTarget] : [];
}

/** True when the lifecycle lets a request in `from` move to `to`. */
export function canTransition(from: RequestStatus, to: RequestStatus): boolean {
  return (allowedFrom(to) as readonly RequestStatus[]).includes(from);
}

/** True for a status no transition leaves (`published`, `failed`). */
export function isFinal(status: RequestStatus): status is FinalStatus {
  return !isOpen(status);
}

/** True for a status some transition leaves (`queued`, `assigned`, `agreed`). */
export function isOpen(status: RequestStatus): status is OpenStatus {
  return Object.values(TRANSITIONS).some((from) => (from as readonly RequestStatus[]).includes(status));
}

/** The open statuses, in lifecycle order: each has an index of requests by when they entered it. */
export const OPEN_STATUSES: readonly OpenStatus[] = REQUEST_STATUSES.filter(isOpen);

/**
 * The final statuses, in lifecycle order. Typed as any status so that `FINAL_STATUSES.includes(status)`
 * takes one; `isFinal` narrows.
 */
export const FINAL_STATUSES: readonly RequestStatus[] = REQUEST_STATUSES.filter(isFinal);

/**
 * The statuses a request can be in only after an assignment: the voting status and every status
 * entered only from one of them (\`agreed\`, \`published\`; not \`failed\`, which a queued request can
 * reach). A vote's record reads no assignment for these.
 */
export const ASSIGNED_STATUSES: readonly RequestStatus[] = (() => {
  const assigned: RequestStatus[] = [VOTING_STATUS];
  for (let grew = true; grew;) {
    grew = false;
    for (const [to, from] of Object.entries(TRANSITIONS) as [TransitionTarget, readonly RequestStatus[]][]) {
      if (!assigned.includes(to) && from.every((status) => assigned.includes(status))) {
        assigned.push(to);
        grew = true;
      }
    }
  }
  return REQUEST_STATUSES.filter((status) => assigned.includes(status));
})();
