// The receipt of a published request (`GET /v1/requests/:id/receipt`): everything needed to verify
// it offline, once a round has anchored its ledger entry.
import type { Router } from '@koa/router';
import { toHex } from '../../crypto/bytes.ts';
import { GatewayError } from '../../errors.ts';
import { createReceipt } from '../../protocol/receipt.ts';
import { isFinal } from '../../protocol/request-lifecycle.ts';
import { requireProject } from './auth.ts';
import type { WebDeps } from './deps.ts';
import { loadKeptRequest } from './lookup.ts';

/** Receipts: the request's own auth (its project's key or the admin token). */
export function addReceiptRoutes(router: Router, deps: WebDeps): void {
  const counterPublicKey = deps.counterPublicKey ? toHex(deps.counterPublicKey) : null;
  // The anchoring round starts at most one round length after the entry is appended.
  const anchorRetrySeconds = Math.max(1, Math.ceil(deps.config.roundMs / 1000));

  router.get('/v1/requests/:id/receipt', async (ctx) => {
    const request = await loadKeptRequest(deps, ctx, ctx.params.id);
    requireProject(ctx, request.projectId);
    const read = await deps.repository.getReceiptSources(request.id);
    switch (read.kind) {
      case 'not_found':
        throw new GatewayError('not_found', `request ${request.id} not found`);
      case 'gone':
        throw new GatewayError('gone', `request ${request.id} is kept but round ${read.round}, which its receipt needs, was removed by retention`);
      case 'not_published':
        if (isFinal(read.status)) throw new GatewayError('not_published', `request ${request.id} is ${read.status}: only a published request has a receipt`);
        throw new GatewayError('not_published', `request ${request.id} is ${read.status}, not published yet`, { retryAfterSeconds: 1 });
      case 'not_anchored':
        throw new GatewayError('not_anchored', `ledger entry ${read.seq} is not anchored by a round yet (latest round ${read.latestRound})`, { retryAfterSeconds: anchorRetrySeconds });
      case 'ready':
        ctx.body = createReceipt({ ...read.sources, counterPublicKey });
    }
  });
}
