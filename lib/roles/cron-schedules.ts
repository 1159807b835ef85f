// Project cron schedules: one node-cron task per stored schedule, reloaded periodically; each tick
// enqueues a request under the idempotency key `sch.<scheduleId>.<tick ms>`, so two schedulers
// (or a redelivered tick) never fire the same tick twice.
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../logger.ts';
import type { QueueSet } from '../queues.ts';
import type { Repository } from '../repository/index.ts';
import type { Schedule } from '../repository/types.ts';
import { acceptRequest } from './accept-request.ts';
import type { Clock } from './common.ts';
import { startPeriodic } from './periodic.ts';

export interface CronDeps {
  readonly repository: Pick<Repository, 'listSchedules' | 'getProject' | 'putRequest' | 'getCodeVersion'>;
  readonly queues: QueueSet;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly isLeader: () => boolean;
  readonly reloadMs: number;
}

/** The idempotency key of one tick of one schedule. */
export function scheduleTickKey(scheduleId: string, tickMs: number): string {
  return `sch.${scheduleId}.${tickMs}`;
}

/** When a cron expression fires next, or null if it is invalid. */
export function computeNextRun(expression: string): Date | null {
  if (!cron.validate(expression)) return null;
  const task = cron.createTask(expression, () => undefined);
  try {
    return task.getNextRuns(1)[0] ?? null;
  } finally {
    void task.destroy();
  }
}

export function startCronSchedules(deps: CronDeps): { stop(): Promise<void> } {
  const tasks = new Map<string, ScheduledTask>();
  let stopped = false;

  async function fire(schedule: Schedule, tickMs: number): Promise<void> {
    if (!deps.isLeader()) return;
    const project = await deps.repository.getProject(schedule.projectId);
    if (!project) return;
    const { id, created } = await acceptRequest(
      { repository: deps.repository, queues: deps.queues, nowMs: deps.clock.now() },
      { project, input: schedule.input, source: 'schedule', idempotencyKey: scheduleTickKey(schedule.id, tickMs) },
    );
    if (created) deps.logger.info({ scheduleId: schedule.id, requestId: id }, 'schedule fired');
  }

  async function reload(): Promise<void> {
    const schedules = await deps.repository.listSchedules();
    if (stopped) return;
    const wanted = new Set(schedules.map((s) => s.id));
    for (const [id, task] of tasks) {
      if (!wanted.has(id)) {
        await task.destroy();
        tasks.delete(id);
      }
    }
    for (const schedule of schedules) {
      if (tasks.has(schedule.id) || !cron.validate(schedule.cron)) continue;
      const task = cron.schedule(schedule.cron, (context) => {
        // The scheduled second, not the moment the callback ran: the same on every scheduler.
        const tickMs = Math.floor(context.date.getTime() / 1000) * 1000;
        fire(schedule, tickMs).catch((err: Error) => deps.logger.error({ scheduleId: schedule.id, err: { message: err.message } }, 'schedule tick failed'));
      }, { name: schedule.id, noOverlap: false, suppressMissedWarning: true });
      tasks.set(schedule.id, task);
    }
  }

  const reloader = startPeriodic({
    intervalMs: deps.reloadMs,
    run: reload,
    runAtStart: true,
    onError: (err) => deps.logger.error({ err: { message: err.message } }, 'schedule reload failed'),
  });

  return {
    async stop() {
      stopped = true;
      await reloader.stop();
      for (const task of tasks.values()) await task.destroy();
      tasks.clear();
    },
  };
}
