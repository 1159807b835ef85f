// Project cron schedules: add (checked by the bounded grammar, under the project's cap), list with next runs and refused ticks, delete.
import type { Router } from '@koa/router';
import { computeNextRunIn, parseCronExpression } from '../../cron-expression.ts';
import { GatewayError } from '../../errors.ts';
import { createId, isId } from '../../ids.ts';
import type { Schedule } from '../../repository/types.ts';
import { findInputProblem } from '../accept-request.ts';
import { nextRunOf } from '../scheduler/cron-schedules.ts';
import { requireAdmin, requireProject } from './auth.ts';
import type { WebDeps } from './deps.ts';
import { parseScheduleBody } from './parse-body.ts';
import { loadProject } from './lookup.ts';

export function addScheduleRoutes(router: Router, deps: WebDeps): void {
  const { repository, config, clock } = deps;
  router.post('/v1/projects/:id/schedules', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    const body = parseScheduleBody(await deps.readBody(ctx));
    const cron = parseCronExpression(body.cron);
    if (body.version !== undefined && !(await repository.getCodeVersion(ctx.params.id, body.version))) {
      throw new GatewayError('not_found', `project ${ctx.params.id} has no code version ${body.version}`);
    }
    const nowMs = clock.now();
    const nextRun = computeNextRunIn(cron, nowMs, body.timezone);
    if (nextRun === null) throw new GatewayError('invalid_body', 'cron: the expression never fires within five years', { details: ['cron: never fires within five years'] });
    const inputProblem = findInputProblem(body.input, config.maxInputBytes);
    if (inputProblem) throw new GatewayError(inputProblem.code, inputProblem.reason, { details: [inputProblem.reason] });
    const schedule: Schedule = {
      id: createId('sch', nowMs), projectId: ctx.params.id, cron: cron.expression, input: body.input,
      ...(body.version === undefined ? {} : { version: body.version }), ...(body.timezone === undefined ? {} : { timezone: body.timezone }),
      createdAt: new Date(nowMs).toISOString(),
    };
    if (!(await repository.putSchedule(schedule, config.maxSchedules))) {
      throw new GatewayError('conflict', `project ${ctx.params.id} has ${config.maxSchedules} schedules, the most allowed; delete one first`);
    }
    ctx.status = 201;
    ctx.body = { ...schedule, nextRunAt: new Date(nextRun).toISOString() };
  });

  router.get('/v1/projects/:id/schedules', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    const schedules = await repository.listSchedules(ctx.params.id);
    const nowMs = clock.now();
    const refusals = await Promise.all(schedules.map((s) => repository.getRefusedTicks(s.id)));
    ctx.body = { items: schedules.map((s, i) => ({ ...s, nextRunAt: nextRunOf(s.cron, nowMs, s.timezone), ...refusals[i] })) };
  });

  router.delete('/v1/schedules/:id', async (ctx) => {
    const schedule = isId('sch', ctx.params.id) ? await repository.getSchedule(ctx.params.id) : null;
    if (!schedule) {
      if ((ctx.state.principal as { kind: string }).kind === 'anonymous') requireAdmin(ctx);
      throw new GatewayError('not_found', `schedule ${ctx.params.id} not found`);
    }
    requireProject(ctx, schedule.projectId);
    await repository.deleteSchedule(schedule);
    ctx.status = 204;
  });
}
