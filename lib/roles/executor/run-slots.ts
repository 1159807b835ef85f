// Fairness on one node: no project holds more than its share of the node's run slots. A run past its
// project's share first waits here, briefly, for one of that project's runs to end (runs of a few
// milliseconds hand their slot on at once, with no trip through Redis); one still waiting after
// HOLD_MS is put back at the end of the queue, after a short, growing wait, so other projects' runs
// go first and a slow project delays another by at most one run's length plus HOLD_MS.
import { DelayedError, type Job } from 'bullmq';
import type { Config } from '../../config.ts';

// A run past its share waits up to 100 ms for a slot of its project, then is put back: 50 ms, doubling to 1 s.
export const HOLD_MS = 100;
const DEFER_FIRST_MS = 50;
const DEFER_MAX_MS = 1000;

/** How many runs of one project a node runs at once: `share` of its slots, at least one. */
export function projectRunCap(config: Pick<Config, 'projectRunShare' | 'executorConcurrency'>): number {
  return Math.max(1, Math.floor(config.projectRunShare * config.executorConcurrency));
}

export interface RunSlots {
  /** Takes a slot for the project and returns its release; or moves the job back to the queue and throws DelayedError. */
  take(job: Job, token: string | undefined, projectId: string): Promise<() => void>;
  /** Forgets how often a job was put back (it ran, or failed for good). */
  forget(jobId: string): void;
}

interface ProjectSlots {
  running: number;
  /** Runs waiting for a slot of this project, first come first served; each resolves true when handed one. */
  readonly waiting: ((handed: boolean) => void)[];
}

export function createRunSlots(cap: number, onDefer: () => void, holdMs = HOLD_MS): RunSlots {
  const projects = new Map<string, ProjectSlots>();
  const deferrals = new Map<string, number>();

  // A slot given back goes to the project's first waiting run, if any (the count stays as it is).
  function release(projectId: string, slots: ProjectSlots): void {
    const next = slots.waiting.shift();
    if (next) return next(true);
    slots.running--;
    if (slots.running === 0) projects.delete(projectId);
  }

  /** True once a slot of the project was handed to this run; false after `holdMs` without one. */
  function waitForSlot(slots: ProjectSlots): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const at = slots.waiting.indexOf(settle);
        if (at >= 0) slots.waiting.splice(at, 1);
        resolve(false);
      }, holdMs);
      const settle = (handed: boolean) => {
        clearTimeout(timer);
        resolve(handed);
      };
      slots.waiting.push(settle);
    });
  }

  return {
    async take(job, token, projectId) {
      const own = projects.get(projectId) ?? { running: 0, waiting: [] };
      projects.set(projectId, own);
      const handed = own.running < cap ? (own.running++, true) : await waitForSlot(own);
      if (!handed) {
        const times = deferrals.get(job.id!) ?? 0;
        deferrals.set(job.id!, times + 1);
        onDefer();
        await job.moveToDelayed(Date.now() + Math.min(DEFER_FIRST_MS * 2 ** times, DEFER_MAX_MS), token);
        throw new DelayedError();
      }
      let isReleased = false;
      return () => {
        if (isReleased) return;
        isReleased = true;
        release(projectId, own);
      };
    },
    forget: (jobId) => void deferrals.delete(jobId),
  };
}
