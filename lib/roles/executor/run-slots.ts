// Fairness on one node: no project holds more than its share of the node's run slots. A run past
// its project's share is put back at the end of the queue, after a short, growing wait, so other
// projects' runs go first and a slow project delays another by at most one run's length.
import { DelayedError, type Job } from 'bullmq';
import type { Config } from '../../config.ts';

// A run put back waits 50 ms, doubling to 1 s.
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

export function createRunSlots(cap: number, onDefer: () => void): RunSlots {
  const runningByProject = new Map<string, number>();
  const deferrals = new Map<string, number>();
  return {
    async take(job, token, projectId) {
      const running = runningByProject.get(projectId) ?? 0;
      if (running >= cap) {
        const times = deferrals.get(job.id!) ?? 0;
        deferrals.set(job.id!, times + 1);
        onDefer();
        await job.moveToDelayed(Date.now() + Math.min(DEFER_FIRST_MS * 2 ** times, DEFER_MAX_MS), token);
        throw new DelayedError();
      }
      runningByProject.set(projectId, running + 1);
      return () => {
        const left = (runningByProject.get(projectId) ?? 1) - 1;
        if (left > 0) runningByProject.set(projectId, left);
        else runningByProject.delete(projectId);
      };
    },
    forget: (jobId) => void deferrals.delete(jobId),
  };
}
