// Projects, code versions, content-addressed code, secrets and schedules.
import type { Router } from '@koa/router';
import { utf8 } from '../../crypto/bytes.ts';
import { computeContentId, parseContentId } from '../../crypto/content-id.ts';
import { GatewayError } from '../../errors.ts';
import { createId, isId } from '../../ids.ts';
import type { Project, Schedule } from '../../repository/types.ts';
import { computeNextRun } from '../cron-schedules.ts';
import { createApiKey, requireAdmin, requireProject } from './auth.ts';
import { parseChainBindingBody, parseCodeBody, parseListQuery, parseProjectBody, parseScheduleBody, parseSecretsBody } from './parse-body.ts';
import { projectView } from './views.ts';
import type { WebDeps } from './webserver.ts';

export function addProjectRoutes(router: Router, deps: WebDeps): void {
  const { repository, config, clock, checkCode } = deps;

  async function loadProject(id: string): Promise<Project> {
    const project = isId('prj', id) ? await repository.getProject(id) : null;
    if (!project) throw new GatewayError('not_found', `project ${id} not found`);
    return project;
  }

  router.post('/v1/projects', async (ctx) => {
    requireAdmin(ctx);
    const draft = parseProjectBody(await deps.readBody(ctx), config);
    await checkCode(draft.code);
    const nowMs = clock.now();
    const { apiKey, hash } = createApiKey();
    const project: Project = {
      id: createId('prj', nowMs),
      name: draft.name,
      description: draft.description,
      committee: draft.committee,
      aggregation: draft.aggregation,
      limits: draft.limits,
      version: 1,
      codeCid: computeContentId(utf8(draft.code)),
      createdAt: new Date(nowMs).toISOString(),
    };
    await repository.putProject(project, draft.code, hash, nowMs);
    deps.logger.info({ projectId: project.id }, 'project created');
    ctx.status = 201;
    ctx.body = { ...projectView(project), apiKey };
  });

  router.get('/v1/projects', async (ctx) => {
    requireAdmin(ctx);
    const { limit, cursor } = parseListQuery(ctx.query);
    const page = await repository.listProjects(limit, cursor);
    ctx.body = { items: page.items.map(projectView), nextCursor: page.nextCursor };
  });

  router.get('/v1/projects/:id', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    ctx.body = projectView(await loadProject(ctx.params.id));
  });

  router.put('/v1/projects/:id/code', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    const code = parseCodeBody(await deps.readBody(ctx), config);
    await checkCode(code);
    const version = await repository.putCodeVersion(ctx.params.id, computeContentId(utf8(code)), code, new Date(clock.now()).toISOString());
    if (!version) throw new GatewayError('not_found', `project ${ctx.params.id} not found`);
    ctx.body = { version: version.version, codeCid: version.codeCid };
  });

  router.get('/v1/projects/:id/versions', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    ctx.body = { items: await repository.listCodeVersions(ctx.params.id) };
  });

  // Code is public by content id: anyone may check what a committee ran.
  router.get('/v1/code/:cid', async (ctx) => {
    const code = parseContentId(ctx.params.cid) ? await repository.getCode(ctx.params.cid) : null;
    if (code === null) throw new GatewayError('not_found', `no code with id ${ctx.params.cid}`);
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = code;
  });

  router.put('/v1/projects/:id/secrets', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    const secrets = parseSecretsBody(await deps.readBody(ctx));
    if (!deps.hasMasterKey) throw new GatewayError('unavailable', 'the operator has not configured GATEWAY_MASTER_KEY');
    await repository.putSecrets(ctx.params.id, secrets);
    ctx.status = 204;
  });

  router.get('/v1/projects/:id/secrets', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    ctx.body = { items: (await repository.listSecretNames(ctx.params.id)).map((name) => ({ name })) };
  });

  // The operator binds an on-chain project id to this project: the chain inputter then turns the
  // contract's pending requests for that id into requests of this project.
  router.put('/v1/projects/:id/chain', async (ctx) => {
    requireAdmin(ctx);
    await loadProject(ctx.params.id);
    const chainProjectId = parseChainBindingBody(await deps.readBody(ctx));
    await repository.putChainBinding(chainProjectId, ctx.params.id);
    deps.logger.info({ projectId: ctx.params.id, chainProjectId }, 'chain project bound');
    ctx.body = { projectId: ctx.params.id, chainProjectId };
  });

  router.get('/v1/projects/:id/chain', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    ctx.body = { projectId: ctx.params.id, chainProjectId: await repository.getChainBindingOf(ctx.params.id) };
  });

  router.post('/v1/projects/:id/schedules', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    const body = parseScheduleBody(await deps.readBody(ctx));
    const nextRun = computeNextRun(body.cron);
    if (!nextRun) throw new GatewayError('invalid_body', `cron: "${body.cron}" is not a valid node-cron expression`, { details: ['cron: not a valid node-cron expression'] });
    const nowMs = clock.now();
    const schedule: Schedule = { id: createId('sch', nowMs), projectId: ctx.params.id, cron: body.cron, input: body.input, createdAt: new Date(nowMs).toISOString() };
    await repository.putSchedule(schedule);
    ctx.status = 201;
    ctx.body = { ...schedule, nextRunAt: nextRun.toISOString() };
  });

  router.get('/v1/projects/:id/schedules', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(ctx.params.id);
    const schedules = await repository.listSchedules(ctx.params.id);
    ctx.body = { items: schedules.map((s) => ({ ...s, nextRunAt: computeNextRun(s.cron)?.toISOString() ?? null })) };
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
