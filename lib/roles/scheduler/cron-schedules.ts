// Project cron schedules: one node-cron task per stored schedule, reloaded periodically; each tick
// enqueues a request under the idempotency key `sch.<scheduleId>.<tick ms>`, so two schedulers
// (or a redelivered tick) never fire the same tick twice. node-cron only ever sees expressions our
// own bounded parser accepted (lib/cron-expression.ts), in its normalized form.
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../../config.ts';
import { computeNextRunIn, parseCronExpression } from '../../cron-expression.ts';
import { isGatewayError } from '../../errors.ts';
import { errorForLog, type Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { Schedule } from '../../repository/types.ts';
import { acceptRequest } from '../accept-request.ts';
import type { Clock } from '../../runtime/common.ts';
import { startPeriodic } from '../../runtime/periodic.ts';

export interface CronDeps {
  readonly repository: Pick<Repository, 'listSchedules' | 'getProject' | 'putRequest' | 'getCodeVersion' | 'recordRefusedTick' | 'reconcileOpenRequests'>;
  readonly queues: QueueSet;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'admissionRefused' | 'failures'>;
  readonly config: Pick<Config, 'projectMaxInFlight' | 'maxInputBytes'>;
  readonly isLeader: () => boolean;
  readonly reloadMs: number;
}

/** The idempotency key of one tick of one schedule. */
export function scheduleTickKey(scheduleId: string, tickMs: number): string {
  return `sch.${scheduleId}.${tickMs}`;
}

/** When a stored cron expression fires next after `nowMs` (ISO), read in `timeZone` (default UTC), or null when it is invalid or never fires within the search horizon. */
export function nextRunOf(expression: string, nowMs: number, timeZone?: string): string | null {
  try {
    const next = computeNextRunIn(parseCronExpression(expression), nowMs, timeZone);
    return next === null ? null : new Date(next).toISOString();
  } catch {
    return null;
  }
}

export function startCronSchedules(deps: CronDeps): { stop(): Promise<void> } {
  const tasks = new Map<string, ScheduledTask>();
  let stopped = false;

  const fire = createTickFirer(deps);

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
      if (tasks.has(schedule.id)) continue;
      let expression: string;
      try {
        expression = parseCronExpression(schedule.cron).expression;
      } catch {
        continue; // stored before the parser existed and refused by it: never handed to node-cron
      }
      const task = cron.schedule(expression, (context) => {
        // The scheduled second, not the moment the callback ran: the same on every scheduler.
        const tickMs = Math.floor(context.date.getTime() / 1000) * 1000;
        fire(schedule, tickMs).catch((err: Error) => deps.logger.error({ scheduleId: schedule.id, err: errorForLog(err) }, 'schedule tick failed'));
      }, { name: schedule.id, noOverlap: false, suppressMissedWarning: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) });
      tasks.set(schedule.id, task);
    }
  }

  const reloader = startPeriodic({
    intervalMs: deps.reloadMs,
    run: reload,
    runAtStart: true,
    onError: (err) => deps.logger.error({ err: errorForLog(err) }, 'schedule reload failed'),
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

/** Accepts one tick of a schedule as a request (once per tick, on the leader); a tick refused at admission is recorded on the schedule. */
function createTickFirer(deps: CronDeps): (schedule: Schedule, tickMs: number) => Promise<void> {
  return async function fire(schedule, tickMs) {
    if (!deps.isLeader()) return;
    const project = await deps.repository.getProject(schedule.projectId);
    if (!project) return;
    try {
      const { id, created, isRejected } = await acceptRequest(
        { repository: deps.repository, queues: deps.queues, config: deps.config, nowMs: deps.clock.now() },
        { project, input: schedule.input, source: 'schedule', idempotencyKey: scheduleTickKey(schedule.id, tickMs), ...(schedule.version === undefined ? {} : { version: schedule.version }) },
      );
      if (isRejected) deps.metrics.failures.inc({ code: 'rejected' });
      if (created) deps.logger.info({ scheduleId: schedule.id, requestId: id }, 'schedule fired');
    } catch (error) {
      if (isGatewayError(error, 'not_found') && schedule.version !== undefined) {
        // The pinned version is gone (deleted through the API since): the tick is refused, and says why.
        await deps.repository.recordRefusedTick(schedule.id, tickMs, `code version ${schedule.version} no longer exists`);
        deps.logger.warn({ scheduleId: schedule.id, projectId: schedule.projectId }, 'schedule tick refused: pinned version deleted');
        return;
      }
      if (!isGatewayError(error, 'rate_limited')) throw error;
      // Counted on the schedule, never dropped in silence.
      await deps.repository.recordRefusedTick(schedule.id, tickMs, `the project had ${deps.config.projectMaxInFlight} requests in flight`);
      deps.metrics.admissionRefused.inc({ source: 'schedule' });
      deps.logger.warn({ scheduleId: schedule.id, projectId: schedule.projectId }, 'schedule tick refused: project at its in-flight limit');
    }
  };
}
