// The verification surface: nodes, rounds with their tickets, and the ledger with its check
// (incremental and shared for everyone, a full re-verification for the admin).
import type { Router } from '@koa/router';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { isValidPublicKey, publicKey as vrfPublicKeyOf } from '../../crypto/ecvrf.ts';
import { GatewayError } from '../../errors.ts';
import { isId } from '../../ids.ts';
import { GENESIS_PREV_HASH, verifyLedgerEntries, type HashedLedgerEntry } from '../../protocol/ledger.ts';
import type { Repository } from '../../repository/index.ts';
import { createNodeRecord } from '../node-record.ts';
import { requireAdmin } from './auth.ts';
import { parseNodeBody } from './parse-body.ts';
import { parseDecimal, parseLedgerQuery, parseVerifyQuery } from './parse-query.ts';
import { nodeView } from './views.ts';
import type { WebDeps } from './deps.ts';

const LEDGER_VERIFY_PAGE = 1000;

/** Nodes, rounds and the ledger (API.md, "Nodes, rounds, ledger"). */
export function addVerificationRoutes(router: Router, deps: WebDeps): void {
  const { repository, clock } = deps;
  const ledgerVerifier = createLedgerVerifier(repository);
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
    return {
      round: round.round, seed: round.seed, proof: round.proof, ticketsRoot: round.ticketsRoot, ledgerLength: round.ledgerLength, ledgerHead: round.ledgerHead,
      counterPublicKey, startedAt: round.startedAt, frozen: round.frozen, tickets,
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

/** A prefix of the ledger that verified: its length, its last hash, and that entry's prevHash. */
interface VerifiedPrefix {
  readonly length: number;
  readonly head: string;
  readonly beforeHead: string;
}

const EMPTY_PREFIX: VerifiedPrefix = { length: 0, head: GENESIS_PREV_HASH, beforeHead: GENESIS_PREV_HASH };

/**
 * `GET /v1/ledger/verify`'s answer. `ok: true`: the first `length` entries form a valid chain ending
 * in `head`; `pending` (only when above 0) entries after them are not verified yet. `ok: false`: the
 * entry at `badSeq` breaks the chain; `length`/`head` are the prefix before it.
 */
export type LedgerReport =
  | { readonly ok: true; readonly length: number; readonly head: string; readonly pending?: number }
  | { readonly ok: false; readonly length: number; readonly head: string; readonly badSeq: number };

export interface LedgerVerifier {
  /**
   * The check anyone may run, at a bounded cost: it keeps the verified prefix in memory, re-reads
   * the entry the prefix ends on (it must still hash to the cached head, with the same prevHash),
   * then verifies at most `maxEntriesPerCall` of the entries appended since and extends the prefix;
   * any more are reported as `pending` and taken by the next calls. A change to an entry before the
   * last verified one is not seen here; `verifyAll` sees it. When the last verified entry changed,
   * the answer is `ok: false` with `badSeq` at it, and the prefix restarts from seq 1. Concurrent
   * calls share one run.
   */
  verifyNew(): Promise<LedgerReport>;
  /** Re-verifies every entry from seq 1 (the admin's check; O(ledger)); its result replaces the cached prefix. Concurrent calls share one run. */
  verifyAll(): Promise<LedgerReport>;
  /** The verified prefix held now. */
  stats(): { verifiedLength: number; verifiedHead: string };
}

/** The ledger check behind `GET /v1/ledger/verify`, one per webserver process. */
export function createLedgerVerifier(repository: Pick<Repository, 'getLedgerLength' | 'listLedgerText'>, maxEntriesPerCall = LEDGER_VERIFY_PAGE): LedgerVerifier {
  let prefix = EMPTY_PREFIX;
  let newRun: Promise<LedgerReport> | undefined;
  let fullRun: Promise<LedgerReport> | undefined;

  async function checkNew(): Promise<LedgerReport> {
    const start = prefix;
    const [total, anchor] = await Promise.all([repository.getLedgerLength(), repository.listLedgerText(start.length, start.length > 0 ? 1 : 0)]);
    if (start.length > 0) {
      const recheck = checkStored(anchor, { length: start.length - 1, head: start.beforeHead, beforeHead: GENESIS_PREV_HASH });
      if (recheck.prefix.length !== start.length || recheck.prefix.head !== start.head) {
        // What the cache vouched for changed: it vouches for nothing now.
        if (prefix === start) prefix = EMPTY_PREFIX;
        return { ok: false, length: start.length - 1, head: start.beforeHead, badSeq: start.length };
      }
    }
    const result = checkStored(await repository.listLedgerText(start.length + 1, Math.min(total - start.length, maxEntriesPerCall)), start);
    // A full run that finished meanwhile is newer: keep its prefix.
    if (prefix === start) prefix = result.prefix;
    return report(result, total - result.prefix.length);
  }

  async function checkAll(): Promise<LedgerReport> {
    let result: StoredCheck = { prefix: EMPTY_PREFIX };
    for (;;) {
      const texts = await repository.listLedgerText(result.prefix.length + 1, LEDGER_VERIFY_PAGE);
      result = checkStored(texts, result.prefix);
      if (result.badSeq !== undefined || texts.length < LEDGER_VERIFY_PAGE) break;
    }
    prefix = result.prefix;
    return report(result, 0);
  }

  return {
    verifyNew: () => (newRun ??= checkNew().finally(() => { newRun = undefined; })),
    verifyAll: () => (fullRun ??= checkAll().finally(() => { fullRun = undefined; })),
    stats: () => ({ verifiedLength: prefix.length, verifiedHead: prefix.head }),
  };
}

type StoredCheck = { readonly prefix: VerifiedPrefix; readonly badSeq?: number };

/** Checks stored entries that follow `prefix`; an entry that is not a JSON object breaks the chain there. */
function checkStored(texts: readonly string[], prefix: VerifiedPrefix): StoredCheck {
  const entries: HashedLedgerEntry[] = [];
  for (const text of texts) {
    const entry = parseStoredEntry(text);
    if (!entry) break;
    entries.push(entry);
  }
  const check = verifyLedgerEntries(entries, prefix.head, prefix.length + 1);
  const verified = check.length - prefix.length;
  const next = verified === 0 ? prefix : { length: check.length, head: check.head, beforeHead: entries[verified - 1].prevHash };
  // badSeq is the position in the list, whatever seq a tampered entry claims.
  return !check.ok || entries.length < texts.length ? { prefix: next, badSeq: check.length + 1 } : { prefix: next };
}

function parseStoredEntry(text: string): HashedLedgerEntry | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as HashedLedgerEntry) : undefined;
  } catch {
    return undefined;
  }
}

function report(result: StoredCheck, pending: number): LedgerReport {
  const { length, head } = result.prefix;
  if (result.badSeq !== undefined) return { ok: false, length, head, badSeq: result.badSeq };
  return { ok: true, length, head, ...(pending > 0 ? { pending } : {}) };
}
