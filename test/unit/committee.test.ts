// Unit tests for committee sortition: the reference score, determinism, ties, and a fair share of seats.
import { expect } from 'chai';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { computeScore, createCommitteeSelector } from '../../lib/protocol/committee.ts';
import { buildNodes, buildTickets } from '../support/builders.ts';

const SEED = sha256(utf8('committee test seed'));

/** The committee straight from docs/protocol.md: sort every ticket by (score, nodeId), take k. */
function referenceCommittee(tickets: { nodeId: string; beta: Uint8Array }[], requestId: string, k: number): string[] {
  return tickets
    .map((t) => ({ nodeId: t.nodeId, score: toHex(computeScore(t.beta, requestId)) }))
    .sort((a, b) => (a.score < b.score ? -1 : a.score > b.score ? 1 : a.nodeId < b.nodeId ? -1 : 1))
    .slice(0, k)
    .map((t) => t.nodeId);
}

describe('committee sortition', () => {
  const nodes = buildNodes(20);
  const tickets = buildTickets(nodes, 4, SEED);

  it('scores a ticket as H("gw/score/v1" || beta || requestId)', () => {
    const beta = tickets[0].beta;
    expect(toHex(computeScore(beta, 'req_1'))).to.equal(toHex(sha256(utf8('gw/score/v1'), beta, utf8('req_1'))));
  });

  it('picks the k lowest scores, exactly as the reference definition', () => {
    const selector = createCommitteeSelector(tickets);
    for (let i = 0; i < 300; i++) {
      const requestId = `req_${i}_${'x'.repeat(i % 70)}`;
      for (const k of [1, 3, 5]) expect(selector.select(requestId, k)).to.deep.equal(referenceCommittee(tickets, requestId, k));
    }
  });

  it('returns the same committee on every call and for every ticket order', () => {
    const selector = createCommitteeSelector(tickets);
    const reversed = createCommitteeSelector([...tickets].reverse());
    const first = selector.select('req_determinism', 3);
    expect(first).to.have.length(3);
    for (let i = 0; i < 5; i++) {
      expect(selector.select('req_determinism', 3)).to.deep.equal(first);
      expect(reversed.select('req_determinism', 3)).to.deep.equal(first);
    }
  });

  it('breaks equal scores by node id', () => {
    const beta = tickets[0].beta;
    const selector = createCommitteeSelector([
      { nodeId: 'node_c', beta }, { nodeId: 'node_a', beta }, { nodeId: 'node_b', beta },
    ]);
    expect(selector.select('req_tie', 2)).to.deep.equal(['node_a', 'node_b']);
  });

  it('returns every eligible node when fewer than k hold tickets, and none when none do', () => {
    expect(createCommitteeSelector(tickets.slice(0, 2)).select('req_small', 3)).to.have.length(2);
    expect(createCommitteeSelector([]).select('req_none', 3)).to.deep.equal([]);
  });

  it('refuses two tickets for one node and a committee size below 1', () => {
    expect(() => createCommitteeSelector([tickets[0], tickets[0]])).to.throw(RangeError, 'two tickets');
    expect(() => createCommitteeSelector(tickets).select('req_x', 0)).to.throw(RangeError);
  });

  it('gives every node a fair share of seats over 10,000 requests (chi-square, 19 df, p = 0.001)', () => {
    const selector = createCommitteeSelector(tickets);
    const k = 3;
    const seats = new Map<string, number>(nodes.map((n) => [n.nodeId, 0]));
    for (let i = 0; i < 10_000; i++) {
      for (const nodeId of selector.select(`req_${i}`, k)) seats.set(nodeId, seats.get(nodeId)! + 1);
    }
    const expected = (10_000 * k) / nodes.length;
    let chiSquare = 0;
    for (const count of seats.values()) chiSquare += (count - expected) ** 2 / expected;
    // 43.82 is the 0.999 quantile of chi-square with 19 degrees of freedom.
    expect(chiSquare).to.be.below(43.82);
    for (const count of seats.values()) expect(count).to.be.within(expected * 0.85, expected * 1.15);
  });
});
