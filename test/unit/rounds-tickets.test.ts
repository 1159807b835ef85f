// Unit tests for the round seed chain, request seeds and tickets (docs/protocol.md byte layouts).
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { concatBytes, fromHex, toHex, u64be, utf8 } from '../../lib/crypto/bytes.ts';
import { proofToHash, publicKey, verify } from '../../lib/crypto/ecvrf.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import {
  GENESIS_SEED, computeRequestSeed, computeRoundAlpha, computeTicketsRoot, createRound, verifyRound, verifyRoundChain, type RoundAnchor, type RoundProof,
} from '../../lib/protocol/rounds.ts';
import { computeTicketAlpha, createTicket, verifyTicket } from '../../lib/protocol/tickets.ts';
import { buildNode } from '../support/builders.ts';
import roundVector from '../fixtures/round-v2.json' with { type: 'json' };
import ledgerVector from '../fixtures/ledger-v2.json' with { type: 'json' };

const COUNTER_KEY = sha256(utf8('test-counter-key'));
const COUNTER_PUBLIC = publicKey(COUNTER_KEY);

// Each round commits to a ticket set and a ledger state (distinct per round here, as in a live chain).
const anchorOf = (r: number): RoundAnchor => ({
  ticketsRoot: computeTicketsRoot(r === 1 ? [] : [{ nodeId: `node_${r}`, beta: 'ab'.repeat(64) }]), ledgerLength: r - 1, ledgerHead: r === 1 ? new Uint8Array(32) : sha256(utf8(`head ${r}`)),
});
const EMPTY_ANCHOR = anchorOf(1);

function buildChain(length: number): RoundProof[] {
  const rounds: RoundProof[] = [];
  let seed = GENESIS_SEED;
  for (let r = 1; r <= length; r++) {
    const round = createRound(COUNTER_KEY, r, seed, anchorOf(r));
    rounds.push(round);
    seed = round.seed;
  }
  return rounds;
}

describe('round seed chain', () => {
  it('lays out alpha_r as "gw/round/v2" || u64be(r) || seed_{r-1} || ticketsRoot_{r-1} || u64be(L) || h', () => {
    const anchor = { ticketsRoot: sha256(utf8('root')), ledgerLength: 258, ledgerHead: sha256(utf8('head')) };
    expect(toHex(computeRoundAlpha(7, GENESIS_SEED, anchor))).to.equal(
      Buffer.from('gw/round/v2').toString('hex') + '0000000000000007' + '00'.repeat(32) + toHex(anchor.ticketsRoot) + '0000000000000102' + toHex(anchor.ledgerHead),
    );
  });

  it('roots a ticket set as H("gw/tickets/v2" || JCS([{nodeId, beta}] sorted by nodeId))', () => {
    const tickets = [{ nodeId: 'node_b', beta: 'BB'.repeat(64), proof: 'x' }, { nodeId: 'node_a', beta: 'aa'.repeat(64), proof: 'y' }];
    const expected = sha256(utf8('gw/tickets/v2'), utf8(`[{"beta":"${'aa'.repeat(64)}","nodeId":"node_a"},{"beta":"${'bb'.repeat(64)}","nodeId":"node_b"}]`));
    expect(toHex(computeTicketsRoot(tickets))).to.equal(toHex(expected));
    expect(toHex(computeTicketsRoot([]))).to.equal(toHex(sha256(utf8('gw/tickets/v2[]'))));
  });

  it('no longer verifies once the ticket set or the ledger it committed to changes', () => {
    const chain = buildChain(3);
    for (const change of [{ ticketsRoot: computeTicketsRoot([]) }, { ledgerLength: 5 }, { ledgerHead: sha256(utf8('rewritten')) }]) {
      expect(verifyRoundChain(COUNTER_PUBLIC, [chain[0], chain[1], { ...chain[2], ...change }])).to.deep.equal({ ok: false, round: 3, reason: 'bad_proof' });
    }
  });

  it('derives seed_r = H(beta_r) from a proof that verifies under the counter key', () => {
    const round = createRound(COUNTER_KEY, 1, GENESIS_SEED, EMPTY_ANCHOR);
    const beta = verify(COUNTER_PUBLIC, round.proof, computeRoundAlpha(1, GENESIS_SEED, EMPTY_ANCHOR));
    expect(beta).to.not.equal(null);
    expect(toHex(round.seed)).to.equal(createHash('sha256').update(beta!).digest('hex'));
    expect(verifyRound(COUNTER_PUBLIC, round, GENESIS_SEED)).to.equal(true);
  });

  it('is deterministic: the same key gives the same chain', () => {
    expect(buildChain(3).map((r) => toHex(r.seed))).to.deep.equal(buildChain(3).map((r) => toHex(r.seed)));
  });

  it('verifies a whole chain and names the first broken round', () => {
    const chain = buildChain(5);
    expect(verifyRoundChain(COUNTER_PUBLIC, chain)).to.deep.equal({ ok: true });
    const forged = chain.map((r) => ({ ...r }));
    forged[3] = { ...forged[3], seed: sha256(utf8('chosen seed')) };
    expect(verifyRoundChain(COUNTER_PUBLIC, forged)).to.deep.equal({ ok: false, round: 4, reason: 'bad_proof' });
    expect(verifyRoundChain(COUNTER_PUBLIC, [chain[0], chain[2]])).to.deep.equal({ ok: false, round: 3, reason: 'not_consecutive' });
  });

  it('verifies a suffix of the chain from the seed before it', () => {
    const chain = buildChain(4);
    expect(verifyRoundChain(COUNTER_PUBLIC, chain.slice(2), chain[1].seed)).to.deep.equal({ ok: true });
    expect(verifyRoundChain(COUNTER_PUBLIC, chain.slice(2))).to.deep.equal({ ok: false, round: 3, reason: 'bad_proof' });
  });

  it('rejects a round proven by another key', () => {
    const round = createRound(sha256(utf8('another key')), 1, GENESIS_SEED, EMPTY_ANCHOR);
    expect(verifyRound(COUNTER_PUBLIC, round, GENESIS_SEED)).to.equal(false);
  });

  it('derives ctx.seed as H("gw/req-seed" || seed_a || requestId)', () => {
    const seed = buildChain(1)[0].seed;
    expect(toHex(computeRequestSeed(seed, 'req_abc'))).to.equal(
      createHash('sha256').update('gw/req-seed').update(seed).update('req_abc').digest('hex'),
    );
  });
});

describe('tickets', () => {
  const node = buildNode(1);
  const seed = sha256(utf8('round seed'));

  it('proves "gw/ticket/v1" || u64be(r) || seed_r with the node VRF key', () => {
    expect(toHex(computeTicketAlpha(9, seed))).to.equal(toHex(concatBytes(utf8('gw/ticket/v1'), u64be(9), seed)));
    const ticket = createTicket(node.nodeId, node.keys.vrfSecretKey, 9, seed);
    expect(toHex(ticket.beta)).to.equal(toHex(proofToHash(ticket.proof)));
    expect(verifyTicket(node.keys.vrfPublicKey, 9, seed, ticket)).to.equal(true);
  });

  it('rejects a ticket for another round, another seed, another key or a swapped beta', () => {
    const ticket = createTicket(node.nodeId, node.keys.vrfSecretKey, 9, seed);
    expect(verifyTicket(node.keys.vrfPublicKey, 10, seed, ticket)).to.equal(false);
    expect(verifyTicket(node.keys.vrfPublicKey, 9, sha256(seed), ticket)).to.equal(false);
    expect(verifyTicket(buildNode(2).keys.vrfPublicKey, 9, seed, ticket)).to.equal(false);
    const beta = Uint8Array.from(ticket.beta);
    beta[0] ^= 1;
    expect(verifyTicket(node.keys.vrfPublicKey, 9, seed, { ...ticket, beta })).to.equal(false);
  });
});

describe('round vectors (test/fixtures/round-v2.json)', () => {
  it('rebuild alpha from the layout, and verify each proof and seed under the counter public key', () => {
    let previousSeed = GENESIS_SEED;
    for (const round of roundVector.rounds) {
      const alpha = Buffer.concat([Buffer.from('gw/round/v2'), Buffer.from(u64be(round.round)), Buffer.from(previousSeed), Buffer.from(round.ticketsRoot, 'hex'),
        Buffer.from(u64be(round.ledgerLength)), Buffer.from(round.ledgerHead, 'hex')]);
      expect(alpha.toString('hex')).to.equal(round.alpha);
      const beta = verify(fromHex(roundVector.counterPublicKey), fromHex(round.proof), alpha);
      expect(toHex(sha256(beta!))).to.equal(round.seed);
      previousSeed = fromHex(round.seed);
    }
    expect(roundVector.rounds[0].ticketsRoot).to.equal(toHex(sha256(utf8('gw/tickets/v2[]'))));
    expect(roundVector.rounds[1].ticketsRoot).to.equal(toHex(computeTicketsRoot(roundVector.ticketsOfRound1)));
    expect(roundVector.rounds[1].ledgerHead).to.equal(ledgerVector.entries[1].hash);
  });
});
