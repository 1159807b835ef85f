// The repair sweep's decisions, pure: which requests count as stranded, and what to do with one.

import type { JobState } from '../../queues.ts';

/** Requests that entered their state (`queued`, `assigned`, `agreed`) before `staleBeforeMs` have been in it too long. */
export interface SweepWindows {
  readonly staleBeforeMs: number;
}

/** The shortest time a request may sit in a state before the sweep looks at it. */
const MIN_STALE_MS = 2000;

export function computeSweepWindows(nowMs: number, config: { roundMs: number }): SweepWindows {
  return { staleBeforeMs: nowMs - Math.max(MIN_STALE_MS, config.roundMs) };
}

/**
 * A request still `queued` whose `incoming` job is gone or finished was stranded (accepted, then the
 * process died before the job was added, or the job ended without moving it): enqueue it again, after
 * removing a finished job, whose id would otherwise swallow the new one. A job still waiting or running is left alone.
 */
export function decideStrandedQueued(state: JobState): { readonly kind: 'requeue'; readonly isOldJobRemoved: boolean } | { readonly kind: 'leave' } {
  if (state === 'missing') return { kind: 'requeue', isOldJobRemoved: false };
  if (state === 'completed' || state === 'failed') return { kind: 'requeue', isOldJobRemoved: true };
  return { kind: 'leave' };
}
