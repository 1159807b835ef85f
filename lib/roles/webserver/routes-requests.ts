// Requests: accept (with idempotency keys), read (with long-poll), list per project.
import type { Router } from '@koa/router';
import { GatewayError, isGatewayError } from '../../errors.ts';
import { isFinal } from '../../protocol/request-lifecycle.ts';
import { acceptRequest } from '../accept-request.ts';
import { createLoadCache } from '../load-cache.ts';
import { requireProject } from './auth.ts';
import { parseRequestBody } from './parse-body.ts';
import { parseListQuery, parseWaitQuery } from './parse-query.ts';
import { requestView } from './views.ts';
import type { WebDeps } from './deps.ts';
import { loadKeptRequest, loadProject, loadRequest } from './lookup.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

const BACKLOG_CHECK_MS = 250;

export function addRequestRoutes(router: Router, deps: WebDeps): void {
  const { repository } = deps;
  addAcceptRoute(router, deps);

  router.get('/v1/requests/:id', async (ctx) => {
    const waitMs = parseWaitQuery(ctx.query);
    let request = await loadKeptRequest(deps, ctx, ctx.params.id);
    requireProject(ctx, request.projectId);
    if (waitMs > 0 && !isFinal(request.status)) {
      const waiter = deps.waiters.wait(request.id, waitMs);
      ctx.req.once('close', waiter.cancel);
      // Re-read after subscribing: a final state reached in between is not missed.
      request = await loadRequest(deps, request.id);
      if (!isFinal(request.status)) {
        await waiter.done;
        request = await loadRequest(deps, request.id);
      } else {
        waiter.cancel();
      }
    }
    ctx.body = requestView(request);
  });

  router.get('/v1/projects/:id/requests', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    const { limit, cursor } = parseListQuery(ctx.query, 'request');
    const page = await repository.listProjectRequests(ctx.params.id, limit, cursor);
    ctx.body = { items: page.items.map(requestView), nextCursor: page.nextCursor };
  });
}

/** `POST /v1/projects/:id/requests`: backpressure, admission, idempotency keys. */
function addAcceptRoute(router: Router, deps: WebDeps): void {
  const { repository, clock } = deps;
  // Backpressure: a request is refused with 429 while too many wait for a committee. The count is
  // read at most every 250 ms, and requests that arrive while it is read share the read (they all
  // read it when each awaited its own: a read per request in flight), so the check costs no Redis
  // call on most requests; a failed read is not kept.
  const countQueued = createLoadCache({ load: () => repository.countQueued(), isKept: () => true, maxEntries: 1, ttl: { ms: BACKLOG_CHECK_MS, clock } });
  const isOverloaded = async (): Promise<boolean> => (await countQueued('queued')) >= deps.config.maxQueued;

  router.post('/v1/projects/:id/requests', async (ctx) => {
    requireProject(ctx, ctx.params.id);
    const project = await loadProject(deps, ctx.params.id);
    const idempotencyKey = ctx.get('Idempotency-Key') || undefined;
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new GatewayError('invalid_body', 'Idempotency-Key: 1..200 printable ASCII characters', { details: ['Idempotency-Key: 1..200 printable ASCII characters'] });
    }
    const body = parseRequestBody(await deps.readBody(ctx));
    if (await isOverloaded()) throw new GatewayError('rate_limited', `more than ${deps.config.maxQueued} requests are waiting; retry shortly`);
    const { id, created } = await acceptRequest(
      { repository, queues: deps.queues, config: deps.config, nowMs: clock.now() },
      // API keys live in their own namespace: no client key can take a schedule tick's or a chain request's.
      { project, input: body.input, version: body.version, source: 'api', idempotencyKey: idempotencyKey === undefined ? undefined : `api.${idempotencyKey}` },
    ).catch((error: unknown) => {
      if (isGatewayError(error, 'rate_limited')) deps.metrics.admissionRefused.inc({ source: 'api' });
      throw error;
    });
    deps.onAccepted?.();
    if (created) deps.logger.info({ requestId: id, projectId: project.id }, 'request accepted');
    ctx.status = created ? 202 : 200;
    ctx.body = { id, status: created ? 'queued' : ((await repository.getRequest(id))?.status ?? 'queued') };
  });
}
