// The verification surface: nodes, rounds with their tickets, and the ledger with its check.
import type { Router } from '@koa/router';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { isValidPublicKey, publicKey as vrfPublicKeyOf } from '../../crypto/ecvrf.ts';
import { GatewayError } from '../../errors.ts';
import { isId } from '../../ids.ts';
import { verifyLedgerEntries, type HashedLedgerEntry } from '../../protocol/ledger.ts';
import { createNodeRecord } from '../node-record.ts';
import { requireAdmin } from './auth.ts';
import { parseListQuery, parseNodeBody } from './parse-body.ts';
import { nodeView } from './views.ts';
import type { WebDeps } from './webserver.ts';

const LEDGER_VERIFY_PAGE = 1000;

export function addVerificationRoutes(router: Router, deps: WebDeps): void {
  const { repository, clock } = deps;
  const counterPublicKey = deps.counterKey ? toHex(vrfPublicKeyOf(deps.counterKey)) : null;

  router.post('/v1/nodes', async (ctx) => {
    requireAdmin(ctx);
    const body = parseNodeBody(await deps.readBody(ctx));
    if (!isValidPublicKey(fromHex(body.signPublicKey)) || !isValidPublicKey(fromHex(body.vrfPublicKey))) {
      throw new GatewayError('invalid_body', 'public keys must be valid Ed25519 points of large order', { details: ['signPublicKey/vrfPublicKey: not a valid Ed25519 public key'] });
    }
    const node = createNodeRecord({ signPublicKey: fromHex(body.signPublicKey), vrfPublicKey: fromHex(body.vrfPublicKey) }, body.name ?? '', clock.now());
    const { node: stored, created } = await repository.putNode(node);
    if (stored.vrfPublicKey !== node.vrfPublicKey) throw new GatewayError('conflict', `node ${node.id} is registered with another VRF key`);
    ctx.status = created ? 201 : 200;
    ctx.body = nodeView(stored);
  });

  router.get('/v1/nodes', async (ctx) => {
    ctx.body = { items: (await repository.listNodes()).map(nodeView) };
  });

  router.delete('/v1/nodes/:id', async (ctx) => {
    requireAdmin(ctx);
    if (!isId('node', ctx.params.id) || !(await repository.removeNode(ctx.params.id))) throw new GatewayError('not_found', `node ${ctx.params.id} not found`);
    ctx.status = 204;
  });

  async function roundView(n: number) {
    const round = n > 0 ? await repository.getRound(n) : null;
    if (!round) throw new GatewayError('not_found', `round ${n} not found`);
    const tickets = await repository.listTickets(n);
    return { round: round.round, seed: round.seed, proof: round.proof, counterPublicKey, startedAt: round.startedAt, frozen: round.frozen, tickets };
  }

  router.get('/v1/rounds/latest', async (ctx) => {
    ctx.body = await roundView(await repository.getLatestRoundNumber());
  });

  router.get('/v1/rounds/:n', async (ctx) => {
    const n = Number(ctx.params.n);
    if (!/^\d{1,15}$/.test(ctx.params.n) || !Number.isSafeInteger(n)) throw new GatewayError('not_found', `round ${ctx.params.n} not found`);
    ctx.body = await roundView(n);
  });

  router.get('/v1/ledger', async (ctx) => {
    const { limit } = parseListQuery(ctx.query);
    const raw = ctx.query.after ?? ctx.query.cursor;
    const after = raw === undefined ? 0 : Number(raw);
    if (!Number.isSafeInteger(after) || after < 0) throw new GatewayError('invalid_body', 'after: must be a non-negative integer', { details: ['after: must be a non-negative integer'] });
    ctx.body = await repository.listLedger(after, limit);
  });

  router.get('/v1/ledger/verify', async (ctx) => {
    let previous: string | undefined;
    let after = 0;
    for (;;) {
      const page = await repository.listLedger(after, LEDGER_VERIFY_PAGE);
      const check = verifyLedgerEntries(page.items as HashedLedgerEntry[], previous, after + 1);
      if (!check.ok) {
        ctx.body = { ok: false, length: check.length, head: check.head, badSeq: check.badSeq };
        return;
      }
      if (page.items.length === 0 || page.nextCursor === null) {
        ctx.body = { ok: true, length: check.length, head: check.head };
        return;
      }
      previous = check.head;
      after = check.length;
    }
  });
}
