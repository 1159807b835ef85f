// A store writer who rewrites the ledger and recomputes every hash keeps the hash chain valid; the
// newest round's anchor, proved with the counter key, is what catches it (GET /v1/ledger/verify).
import { expect } from 'chai';
import { publicKey as vrfPublicKeyOf } from '../../lib/crypto/ecvrf.ts';
import { GENESIS_SEED } from '../../lib/protocol/rounds.ts';
import { computeLedgerHash, type HashedLedgerEntry } from '../../lib/protocol/ledger.ts';
import type { ProcessContext } from '../../lib/process.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import { createLedgerVerifier } from '../../lib/roles/webserver/ledger-verifier.ts';
import { COUNTER_KEY, openTestProcess, startTestRound } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';

describe('ledger anchors', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let ctx: ProcessContext;
  const counterPublicKey = vrfPublicKeyOf(COUNTER_KEY);

  beforeEach(async () => {
    redis = await startTestRedis();
    ctx = await openTestProcess(redis.url);
  });
  afterEach(async () => {
    await ctx.close();
    await redis.stop();
  });

  async function appendEntries(count: number, tag = 'a'): Promise<void> {
    for (let i = 0; i < count; i++) {
      await ctx.repository.appendLedger({
        requestId: `req_anchor_${tag}${i}`, projectId: 'prj_ledger', codeCid: 'bafkreiexample', inputHash: 'ef'.repeat(32), createdAt: '2026-01-01T00:00:00.000Z',
        round: 2, k: 3, q: 2, aggregation: 'exact', resultHash: 'ab'.repeat(32), ok: true, votesDigest: 'cd'.repeat(32),
      });
    }
  }

  /** Rewrites entry `seq` and every later one so that the hash chain stays valid, as a store writer would. */
  async function rewriteFrom(seq: number, change: Partial<HashedLedgerEntry>): Promise<string> {
    const keys = createKeys(ctx.config.keyPrefix);
    const texts = await ctx.connection.lrange(keys.ledger, 0, -1);
    let prevHash = seq > 1 ? (JSON.parse(texts[seq - 2]!) as HashedLedgerEntry).hash : '0'.repeat(64);
    for (let i = seq - 1; i < texts.length; i++) {
      const { hash: _old, ...fields } = JSON.parse(texts[i]!) as HashedLedgerEntry;
      const next = { ...fields, ...(i === seq - 1 ? change : {}), prevHash };
      const hash = computeLedgerHash(next);
      await ctx.connection.lset(keys.ledger, i, JSON.stringify({ ...next, hash }));
      prevHash = hash;
    }
    return prevHash;
  }

  it('vouches for a ledger the newest round anchors, and refuses one rewritten with valid hashes', async () => {
    await appendEntries(3);
    await startTestRound(ctx, 1, GENESIS_SEED, []);
    await appendEntries(1, 'b');
    const verifier = createLedgerVerifier(ctx.repository, counterPublicKey);
    const honest = await verifier.verifyNew();
    expect(honest).to.deep.include({ ok: true, length: 4, anchor: { round: 1, ledgerLength: 3, ok: true } });

    await rewriteFrom(2, { resultHash: '99'.repeat(32) });
    // The chain alone still verifies from seq 1: only the anchor tells.
    const fresh = createLedgerVerifier(ctx.repository, null);
    expect(await fresh.verifyAll()).to.deep.include({ ok: true, length: 4 });
    for (const report of [await createLedgerVerifier(ctx.repository, counterPublicKey).verifyNew(), await verifier.verifyAll()]) {
      expect(report).to.deep.include({ ok: false, badSeq: 3, anchor: { round: 1, ledgerLength: 3, ok: false, reason: 'head_mismatch' } });
    }
  });

  it('refuses a round record whose anchor was moved to a rewritten head, since only the counter key proves it', async () => {
    await appendEntries(2);
    await startTestRound(ctx, 1, GENESIS_SEED, []);
    const head = await rewriteFrom(1, { ok: false });
    expect((await ctx.repository.getRound(1))?.ledgerLength).to.equal(2);
    await ctx.connection.hset(createKeys(ctx.config.keyPrefix).round(1), 'ledgerHead', head);
    expect((await ctx.repository.getRound(1))?.ledgerHead).to.equal(head);
    const report = await createLedgerVerifier(ctx.repository, counterPublicKey).verifyAll();
    expect(report).to.deep.include({ ok: false, badSeq: 2, anchor: { round: 1, ledgerLength: 2, ok: false, reason: 'bad_round_proof' } });
  });
});
