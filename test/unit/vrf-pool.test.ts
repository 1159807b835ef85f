// The VRF worker-thread pool: the same proofs and outputs as ecvrf.ts on the calling thread (RFC 9381
// vectors included), false for a bad proof, and a lost thread fails its pending call and is replaced.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { expect } from 'chai';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { publicKey, type VrfSuite } from '../../lib/crypto/ecvrf.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { inlineVrf } from '../../lib/crypto/vrf-runner.ts';
import { createRound, createRoundWith, GENESIS_SEED } from '../../lib/protocol/rounds.ts';
import { createTicket, createTicketWith, verifyTicket, verifyTicketWith } from '../../lib/protocol/tickets.ts';
import { createVrfPool, VrfPoolError, type VrfPool } from '../../lib/runtime/vrf-pool.ts';
import { buildNodes } from '../support/builders.ts';

type Vector = { suite: string; sk: string; pk: string; alpha: string; pi: string; beta: string };
const { vectors } = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/ecvrf-rfc9381.json'), 'utf8')) as { vectors: Vector[] };
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const suiteOf = (v: Vector): VrfSuite => (v.suite.endsWith('-TAI') ? 'TAI' : 'ELL2');

describe('VRF pool (worker threads)', () => {
  const started: Worker[] = [];
  const lost: string[] = [];
  let pool: VrfPool;

  beforeEach(() => {
    started.length = 0;
    lost.length = 0;
    pool = createVrfPool({ threads: 2, onThreadStart: (worker) => started.push(worker), onThreadLost: (reason) => lost.push(reason) });
  });
  afterEach(() => pool.close());

  it('reproduces the RFC 9381 proofs and outputs of both suites, and verifies them', async () => {
    expect(vectors).to.have.length(6);
    for (const v of vectors) {
      const proven = await pool.prove(hex(v.sk), hex(v.alpha), suiteOf(v));
      expect({ pi: toHex(proven.proof), beta: toHex(proven.beta) }, `${v.suite}`).to.deep.equal({ pi: v.pi, beta: v.beta });
      expect(toHex((await pool.verify(hex(v.pk), hex(v.pi), hex(v.alpha), suiteOf(v)))!)).to.equal(v.beta);
    }
  });

  it('gives the same tickets, round proofs and verdicts as the calling thread', async () => {
    const [node, other] = buildNodes(2);
    const seed = sha256(utf8('pool seed'));
    const ticket = await createTicketWith(pool, node.nodeId, node.keys.vrfSecretKey, 9, seed);
    expect(ticket).to.deep.equal(createTicket(node.nodeId, node.keys.vrfSecretKey, 9, seed));
    expect(await createTicketWith(inlineVrf, node.nodeId, node.keys.vrfSecretKey, 9, seed)).to.deep.equal(ticket);
    expect(await verifyTicketWith(pool, node.keys.vrfPublicKey, 9, seed, ticket)).to.equal(true);
    expect(verifyTicket(node.keys.vrfPublicKey, 9, seed, ticket)).to.equal(true);
    const counterKey = sha256(utf8('pool counter'));
    const anchor = { ticketsRoot: sha256(utf8('root')), ledgerLength: 4, ledgerHead: sha256(utf8('head')) };
    expect(await createRoundWith(pool, counterKey, 1, GENESIS_SEED, anchor)).to.deep.equal(createRound(counterKey, 1, GENESIS_SEED, anchor));
    // Wrong key, wrong round, a flipped proof byte, a beta that is not the proof's.
    expect(await verifyTicketWith(pool, other.keys.vrfPublicKey, 9, seed, ticket)).to.equal(false);
    expect(await verifyTicketWith(pool, node.keys.vrfPublicKey, 10, seed, ticket)).to.equal(false);
    const flipped = Uint8Array.from(ticket.proof);
    flipped[40] ^= 0x01;
    expect(await pool.verify(node.keys.vrfPublicKey, flipped, utf8('any alpha'))).to.equal(null);
    expect(await verifyTicketWith(pool, node.keys.vrfPublicKey, 9, seed, { ...ticket, proof: flipped })).to.equal(false);
    expect(await verifyTicketWith(pool, node.keys.vrfPublicKey, 9, seed, { ...ticket, beta: sha256(utf8('x')) })).to.equal(false);
  });

  it('rejects a bad secret key as ecvrf.ts does, with a RangeError', async () => {
    const error = await pool.prove(new Uint8Array(31), utf8('a')).then(() => null, (e: Error) => e);
    expect(error).to.be.instanceOf(RangeError);
    expect(error!.message).to.equal('ecvrf: secret key must be a 32-byte Uint8Array');
  });

  it('fails the calls of a thread that died with code lost, and answers the next call on a new thread', async () => {
    const key = sha256(utf8('crash key'));
    const pending = pool.prove(key, utf8('alpha 1')).then(() => null, (e: unknown) => e);
    expect(started).to.have.length(1);
    await started[0].terminate();
    const error = await pending;
    expect(error).to.be.instanceOf(VrfPoolError);
    expect((error as VrfPoolError).code).to.equal('lost');
    expect(lost).to.have.length(1);
    expect(lost[0]).to.match(/^exit \d+$/);
    const next = await pool.prove(key, utf8('alpha 2'));
    expect(toHex(next.proof)).to.equal(toHex((await inlineVrf.prove(key, utf8('alpha 2'))).proof));
    expect(started).to.have.length(2);
  });

  it('starts a thread on warm() and answers on it', async () => {
    await pool.warm();
    expect(started).to.have.length(1);
    const key = sha256(utf8('warm key'));
    expect(toHex((await pool.prove(key, utf8('a'))).proof)).to.equal(toHex((await inlineVrf.prove(key, utf8('a'))).proof));
    expect(started).to.have.length(1);
  });

  it('spreads concurrent calls over its threads and keeps them in order per call', async () => {
    const keys = Array.from({ length: 6 }, (_, i) => sha256(utf8(`key ${i}`)));
    const proofs = await Promise.all(keys.map((k, i) => pool.prove(k, utf8(`alpha ${i}`))));
    expect(started).to.have.length(2);
    for (const [i, k] of keys.entries()) {
      expect(await pool.verify(publicKey(k), proofs[i].proof, utf8(`alpha ${i}`))).to.deep.equal(proofs[i].beta);
    }
  });

  it('refuses a call beyond its bound with queue_full, and every call after close with closed', async () => {
    const small = createVrfPool({ maxPending: 2 });
    try {
      const key = sha256(utf8('bound key'));
      const first = [small.prove(key, utf8('1')), small.prove(key, utf8('2'))];
      const third = await small.prove(key, utf8('3')).then(() => null, (e: VrfPoolError) => e.code);
      expect(third).to.equal('queue_full');
      await Promise.all(first);
      const pending = small.prove(key, utf8('4')).then(() => null, (e: VrfPoolError) => e.code);
      await small.close();
      expect(await pending).to.equal('closed');
      expect(await small.verify(publicKey(key), new Uint8Array(80), utf8('5')).then(() => null, (e: VrfPoolError) => e.code)).to.equal('closed');
    } finally {
      await small.close();
    }
  });
});
