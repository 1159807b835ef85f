// Projects, code versions, content-addressed code, secrets and chain bindings.
import type { Router } from '@koa/router';
import { utf8 } from '../../crypto/bytes.ts';
import { computeContentId, parseContentId } from '../../crypto/content-id.ts';
import { GatewayError } from '../../errors.ts';
import { createId } from '../../ids.ts';
import type { Project } from '../../repository/types.ts';
import { RECONCILE_AFTER_MS } from '../accept-request.ts';
import { createApiKey, requireAdmin, requireProject } from './auth.ts';
import { parseChainBindingBody, parseCodeBody, parseProjectBody, parseSecretsBody } from './parse-body.ts';
import { parseListQuery } from './parse-query.ts';
import { projectView } from './views.ts';
import type { WebDeps } from './deps.ts';
import { loadProject } from './lookup.ts';

/** Projects, code versions and content-addressed code, secrets and chain bindings. */
export function addProjectRoutes(router: Router, deps: WebDeps): void {
  addProjectLifeRoutes(router, deps);
  addCodeRoutes(router, deps);
  addSecretAndChainRoutes(router, deps);
}

function addProjectLifeRoutes(router: Router, deps: WebDeps): void {
  const { repository, config, clock, checkCode } = deps;
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
    const { limit, cursor } = parseListQuery(ctx.query, 'timestamp');
    const page = await repository.listProjects(limit, cursor);
    ctx.body = { items: page.items.map(projectView), nextCursor: page.nextCursor };
  });

  router.get('/v1/projects/:id', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    ctx.body = projectView(await loadProject(deps, ctx.params.id));
  });

  // A new API key, shown once; the old one stops working at once (a leaked key is revoked by rotating it).
  router.post('/v1/projects/:id/api-key', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    const { apiKey, hash } = createApiKey();
    if (!(await repository.rotateApiKey(ctx.params.id, hash))) throw new GatewayError('not_found', `no project ${ctx.params.id}`);
    deps.logger.info({ projectId: ctx.params.id }, 'project api key rotated');
    ctx.body = { id: ctx.params.id, apiKey };
  });

  // Deletes the project with its code versions, secrets, schedules, API key and chain binding; its
  // final requests stay readable by the admin until retention removes them.
  router.delete('/v1/projects/:id', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    const projectId = ctx.params.id;
    let result = await repository.deleteProject(projectId);
    // Slots of requests that are final already (a release cut off by a crash) do not keep the project.
    if (result === 'in_use' && (await repository.reconcileOpenRequests(projectId, clock.now() - RECONCILE_AFTER_MS)) > 0) result = await repository.deleteProject(projectId);
    if (result === 'not_found') throw new GatewayError('not_found', `no project ${projectId}`);
    if (result === 'in_use') {
      const open = await repository.countOpenRequests(projectId);
      throw new GatewayError('conflict', `project ${projectId} has ${open} requests not yet final; delete it once they are`);
    }
    deps.logger.info({ projectId }, 'project deleted');
    ctx.status = 204;
  });

}

function addCodeRoutes(router: Router, deps: WebDeps): void {
  const { repository, config, clock, checkCode } = deps;
  router.put('/v1/projects/:id/code', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    const project = await loadProject(deps, ctx.params.id);
    const code = parseCodeBody(await deps.readBody(ctx), config);
    const codeCid = computeContentId(utf8(code));
    // The latest code again is that version: it passed its check when it was uploaded.
    if (codeCid !== project.codeCid) await checkCode(code);
    const stored = await repository.putCodeVersion(ctx.params.id, codeCid, code, new Date(clock.now()).toISOString(), config.maxCodeVersions);
    if (stored.outcome === 'missing') throw new GatewayError('not_found', `project ${ctx.params.id} not found`);
    if (stored.outcome === 'full') throw new GatewayError('conflict', `project ${ctx.params.id} holds ${config.maxCodeVersions} code versions, the most allowed; delete an old one first`);
    ctx.body = { version: stored.version.version, codeCid: stored.version.codeCid };
  });

  router.delete('/v1/projects/:id/versions/:n', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    const version = /^[1-9]\d{0,8}$/.test(ctx.params.n) ? Number(ctx.params.n) : null;
    // A schedule pinned to the version would only fail from then on: the schedule goes first.
    const pinning = version === null ? undefined : (await repository.listSchedules(ctx.params.id)).find((s) => s.version === version);
    if (pinning) throw new GatewayError('conflict', `schedule ${pinning.id} runs version ${version}; delete the schedule first`);
    let outcome = version === null ? 'not_found' : await repository.deleteCodeVersion(ctx.params.id, version);
    // Slots of requests that are final already (a release cut off by a crash) do not keep the version in use.
    if (outcome === 'in_use' && (await repository.reconcileOpenRequests(ctx.params.id, clock.now() - RECONCILE_AFTER_MS)) > 0) outcome = await repository.deleteCodeVersion(ctx.params.id, version!);
    if (outcome === 'not_found') throw new GatewayError('not_found', `project ${ctx.params.id} has no code version ${ctx.params.n}`);
    if (outcome === 'latest') throw new GatewayError('conflict', `version ${version} is the project's latest code; upload another before deleting it`);
    if (outcome === 'in_use') throw new GatewayError('conflict', `version ${version} runs in requests not yet final; delete it once they finish`);
    ctx.status = 204;
  });

  router.get('/v1/projects/:id/versions', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
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

}

function addSecretAndChainRoutes(router: Router, deps: WebDeps): void {
  const { repository, config } = deps;
  router.put('/v1/projects/:id/secrets', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    const secrets = parseSecretsBody(await deps.readBody(ctx), config);
    if (!deps.hasMasterKey) throw new GatewayError('unavailable', 'the operator has not configured GATEWAY_MASTER_KEY');
    await repository.putSecrets(ctx.params.id, secrets);
    ctx.status = 204;
  });

  router.get('/v1/projects/:id/secrets', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    ctx.body = { items: (await repository.listSecretNames(ctx.params.id)).map((name) => ({ name })) };
  });

  // The operator binds an on-chain project id to this project: the chain inputter then turns the
  // contract's pending requests for that id into requests of this project.
  router.put('/v1/projects/:id/chain', async (ctx) => {
    requireAdmin(ctx);
    await loadProject(deps, ctx.params.id);
    const chainProjectId = parseChainBindingBody(await deps.readBody(ctx));
    await repository.putChainBinding(chainProjectId, ctx.params.id);
    deps.logger.info({ projectId: ctx.params.id, chainProjectId }, 'chain project bound');
    ctx.body = { projectId: ctx.params.id, chainProjectId };
  });

  router.get('/v1/projects/:id/chain', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    await loadProject(deps, ctx.params.id);
    ctx.body = { projectId: ctx.params.id, chainProjectId: await repository.getChainBindingOf(ctx.params.id) };
  });
}
