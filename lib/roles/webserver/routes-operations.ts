// Operations: liveness, readiness, metrics, the OpenAPI document and the API reference rendered from it.
import type { Router } from '@koa/router';
import { addDocsRoutes } from './docs-page.ts';
import { openApiDocument } from './openapi.ts';
import type { WebDeps } from './deps.ts';

export function addOperationRoutes(router: Router, deps: WebDeps): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { ok: true };
  });

  router.get('/readyz', async (ctx) => {
    const [redis, roles] = [await deps.repository.ping(), deps.isReady()];
    ctx.status = redis && roles ? 200 : 503;
    ctx.body = { ok: redis && roles, redis, roles };
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });

  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument;
  });

  addDocsRoutes(router);
}
