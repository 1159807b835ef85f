// The verification surface: nodes, rounds with their tickets, and the ledger with its check
// (incremental and shared for everyone, a full re-verification for the admin).
import type { Router } from '@koa/router';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { isValidPublicKey } from '../../crypto/ecvrf.ts';
import { computeNodeId } from '../../crypto/keys.ts';
import { GatewayError } from '../../errors.ts';
import { isId } from '../../ids.ts';
import { findRegistrationProblem } from '../../protocol/node-registration.ts';
import { createNodeRecordFrom } from '../node-record.ts';
import { requireAdmin } from './auth.ts';
import { createLedgerVerifier } from './ledger-verifier.ts';
import { parseNodeBody } from './parse-body.ts';
import { parseDecimal, parseLedgerQuery, parseVerifyQuery } from './parse-query.ts';
import { nodeView } from './views.ts';
import type { WebDeps } from './deps.ts';

/** Nodes, rounds and the ledger (docs/api.md, "Nodes, rounds, ledger"). */
export function addVerificationRoutes(router: Router, deps: WebDeps): void {
  const { repository, clock } = deps;
  const counterPublicKeyBytes = deps.counterPublicKey ?? null;
  const counterPublicKey = counterPublicKeyBytes ? toHex(counterPublicKeyBytes) : null;
  const ledgerVerifier = createLedgerVerifier(repository, counterPublicKeyBytes);

  // With an admin Redis connection, an admitted node gets its own Redis user; its password is shown this once.
  const createNodeUser = async (nodeId: string) => {
    if (!deps.nodeUsers) return {};
    const { username, password } = await deps.nodeUsers.create(nodeId);
    return { redisUsername: username, redisPassword: password };
  };

  router.post('/v1/nodes', async (ctx) => {
    requireAdmin(ctx);
    const body = parseNodeBody(await deps.readBody(ctx));
    if (!isValidPublicKey(fromHex(body.signPublicKey)) || !isValidPublicKey(fromHex(body.vrfPublicKey))) {
      throw new GatewayError('invalid_body', 'public keys must be valid Ed25519 points of large order', { details: ['signPublicKey/vrfPublicKey: not a valid Ed25519 public key'] });
    }
    // Node ids stay bound to the signing key, which must have signed the VRF key and the name.
    const node = createNodeRecordFrom({ ...body, id: computeNodeId(fromHex(body.signPublicKey)) }, clock.now());
    if (body.id !== undefined && body.id !== node.id) {
      throw new GatewayError('invalid_body', 'the id is not the one the signing key derives', { details: [`id: signPublicKey derives ${node.id}`] });
    }
    if (findRegistrationProblem(node)) {
      throw new GatewayError('invalid_body', 'the registration does not verify', { details: ['registration: not the signing key\'s signature over vrfPublicKey and name (protocol v2)'] });
    }
    const { node: stored, outcome } = await repository.putNode(node);
    if (outcome === 'removed') throw new GatewayError('conflict', `node ${node.id} was removed; only POST /v1/nodes/${node.id}/readmit brings it back`);
    if (outcome === 'conflict') throw new GatewayError('conflict', `node ${node.id} is registered with other keys`);
    ctx.status = outcome === 'created' ? 201 : 200;
    ctx.body = outcome === 'created' ? { ...nodeView(stored), ...(await createNodeUser(stored.id)) } : nodeView(stored);
  });

  // A removed node is a tombstone that no registration revives: only this route does.
  router.post('/v1/nodes/:id/readmit', async (ctx) => {
    requireAdmin(ctx);
    const { id } = ctx.params;
    const node = isId('node', id) ? await repository.getNode(id) : null;
    if (!node) throw new GatewayError('not_found', `node ${id.slice(0, 64)} not found`);
    if (node.id !== id || findRegistrationProblem(node)) throw new GatewayError('conflict', `the stored record of node ${id} does not verify; it cannot be re-admitted`);
    const readmitted = await repository.readmitNode(id);
    if (!readmitted) throw new GatewayError('not_found', `node ${id} not found`);
    ctx.body = { ...nodeView(readmitted.node), ...(await createNodeUser(id)) };
  });

  router.get('/v1/nodes', async (ctx) => {
    const nodes = await repository.listNodes();
    const stats = await repository.listNodeStats(nodes.map((node) => node.id));
    ctx.body = { items: nodes.map((node, i) => ({ ...nodeView(node), stats: stats[i] })) };
  });

  router.delete('/v1/nodes/:id', async (ctx) => {
    requireAdmin(ctx);
    if (!isId('node', ctx.params.id) || !(await repository.removeNode(ctx.params.id))) throw new GatewayError('not_found', `node ${ctx.params.id} not found`);
    // A removed node loses its Redis user too: its connections close at once.
    await deps.nodeUsers?.remove(ctx.params.id);
    ctx.status = 204;
  });

  async function roundView(n: number) {
    const round = n > 0 ? await repository.getRound(n) : null;
    if (!round) return removedRoundView(n);
    const tickets = await repository.listTickets(n);
    return {
      round: round.round, seed: round.seed, proof: round.proof, ticketsRoot: round.ticketsRoot, ledgerLength: round.ledgerLength, ledgerHead: round.ledgerHead,
      counterPublicKey, startedAt: round.startedAt, frozen: round.frozen, tickets,
    };
  }

  // Retention keeps the newest removed round as the anchor the oldest kept round's proof starts from.
  async function removedRoundView(n: number) {
    const anchor = n > 0 ? await repository.getRoundAnchor() : null;
    if (!anchor || n > anchor.round) throw new GatewayError('not_found', `round ${n} not found`);
    if (n < anchor.round) throw new GatewayError('gone', `round ${n} was removed by retention; the receipts in the exports carry the rounds they need, and round ${anchor.round} is kept as the anchor`);
    return {
      round: anchor.round, seed: anchor.seed, proof: anchor.proof, ticketsRoot: anchor.ticketsRoot, ledgerLength: anchor.ledgerLength, ledgerHead: anchor.ledgerHead,
      counterPublicKey, startedAt: anchor.startedAt, frozen: true, tickets: [], removed: true,
    };
  }

  router.get('/v1/rounds/latest', async (ctx) => {
    ctx.body = await roundView(await repository.getLatestRoundNumber());
  });

  router.get('/v1/rounds/:n', async (ctx) => {
    const n = parseDecimal(ctx.params.n);
    if (n === undefined) throw new GatewayError('not_found', `round ${ctx.params.n.slice(0, 32)} not found`);
    ctx.body = await roundView(n);
  });

  router.get('/v1/ledger', async (ctx) => {
    const { after, limit } = parseLedgerQuery(ctx.query);
    ctx.body = await repository.listLedger(after, limit);
  });

  router.get('/v1/ledger/verify', async (ctx) => {
    const { full } = parseVerifyQuery(ctx.query);
    if (full) requireAdmin(ctx);
    ctx.body = await (full ? ledgerVerifier.verifyAll() : ledgerVerifier.verifyNew());
  });
}
