// The publication check: a stored outcome is published only when it follows from the signed votes.
import { expect } from 'chai';
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash } from '../../lib/crypto/canonical-json.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { createSigner } from '../../lib/crypto/keys.ts';
import { computeVoteBinding, createVote } from '../../lib/protocol/vote.ts';
import { verifyOutcome, type StoredOutcome } from '../../lib/protocol/verify-outcome.ts';
import { buildNodes } from '../support/builders.ts';

const nodes = buildNodes(4);
const COMMITTEE = nodes.slice(0, 3).map((n) => n.nodeId);
const KEYS = new Map(nodes.map((n) => [n.nodeId, n.keys.signPublicKey]));
const BASE = { id: 'req_1', createdAt: '2026-01-01T00:00:00.000Z', codeCid: computeContentId(utf8('export default () => 1')), input: { a: 1 } };
const ASSIGNMENT = { round: 5, committee: COMMITTEE, quorum: 2, aggregation: 'exact' as const };
const BINDING = computeVoteBinding(BASE, ASSIGNMENT);

const voteOf = (index: number, value: unknown) => {
  const { requestId: _id, ...rest } = createVote(createSigner(nodes[index].keys.signSecretKey), { requestId: 'req_1', nodeId: nodes[index].nodeId, round: 5, ok: true, value }, BINDING);
  return rest;
};
const honest = (): StoredOutcome => ({
  ...BASE, assignment: ASSIGNMENT, votes: [voteOf(0, 7), voteOf(1, 7), voteOf(2, 8)],
  outcome: { ok: true, value: 7, resultHash: toHex(computeResultHash(7)) },
});

describe('verifyOutcome', () => {
  it('accepts an outcome that follows from the signed votes', () => expect(verifyOutcome(honest(), COMMITTEE, KEYS)).to.equal(null));

  const forged: Array<[string, (r: StoredOutcome) => StoredOutcome, string]> = [
    ['a result hash no quorum signed', (r) => ({ ...r, outcome: { ok: true, value: 8, resultHash: toHex(computeResultHash(8)) } }), 'the stored result is not the one the votes agree on'],
    ['a value that is not the hashed one', (r) => ({ ...r, outcome: { ...r.outcome!, value: 9 } }), 'the stored value does not match its result hash'],
    ['a vote rewritten in the store', (r) => ({ ...r, votes: [r.votes[0], { ...r.votes[2], value: 7, resultHash: r.votes[0].resultHash }] }), `the vote of ${nodes[2].nodeId} does not verify (bad_signature)`],
    ['a vote of a node outside the committee', (r) => ({ ...r, votes: [r.votes[0], voteOf(3, 7)] }), `the vote of ${nodes[3].nodeId} does not verify (not_member)`],
    ['two votes of one node', (r) => ({ ...r, votes: [r.votes[0], r.votes[0]] }), `the vote of ${nodes[0].nodeId} does not verify (duplicate)`],
    ['too few votes for the quorum', (r) => ({ ...r, votes: [r.votes[0]] }), 'the votes do not reach the quorum of 2'],
    ['a stored committee that is not the one drawn', (r) => ({ ...r, assignment: { ...ASSIGNMENT, committee: [nodes[3].nodeId, ...COMMITTEE.slice(1)] } }), 'the stored committee is not the one drawn from the committed tickets'],
    ['votes signed for other code (a swapped blob)', (r) => ({ ...r, codeCid: computeContentId(utf8('other')) }), `the vote of ${nodes[0].nodeId} does not verify (bad_signature)`],
  ];
  for (const [name, forge, reason] of forged) it(`refuses ${name}`, () => expect(verifyOutcome(forge(honest()), COMMITTEE, KEYS)).to.equal(reason));

  describe('median', () => {
    const MEDIAN = { ...ASSIGNMENT, aggregation: 'median' as const };
    const MEDIAN_BINDING = computeVoteBinding(BASE, MEDIAN);
    const numberOf = (index: number, value: unknown, ok = true) => {
      const { requestId: _id, ...rest } = createVote(createSigner(nodes[index].keys.signSecretKey), { requestId: 'req_1', nodeId: nodes[index].nodeId, round: 5, ok, value }, MEDIAN_BINDING);
      return rest;
    };
    const outcomeOf = (value: unknown, ok = true) => ({ ok, value, resultHash: toHex(computeResultHash(value)) });
    const stored = (votes: StoredOutcome['votes'], value: unknown, ok = true): StoredOutcome => ({ ...BASE, assignment: MEDIAN, votes, outcome: outcomeOf(value, ok) });

    it('accepts the lower median of every counted ok number, q of them or more', () => {
      expect(verifyOutcome(stored([numberOf(0, 30), numberOf(1, 10)], 10), COMMITTEE, KEYS)).to.equal(null);
      expect(verifyOutcome(stored([numberOf(0, 30), numberOf(1, 10), numberOf(2, 20)], 20), COMMITTEE, KEYS)).to.equal(null);
    });

    it('refuses the median of only the first q numbers when more were counted', () => {
      expect(verifyOutcome(stored([numberOf(0, 30), numberOf(1, 10), numberOf(2, 20)], 10), COMMITTEE, KEYS)).to.equal('the stored result is not the one the votes agree on');
    });

    it('refuses a median of fewer than q ok numbers', () => {
      expect(verifyOutcome(stored([numberOf(0, 30), numberOf(1, 'x')], 30), COMMITTEE, KEYS)).to.equal('the votes do not reach the quorum of 2');
    });

    it('accepts q counted votes agreeing on one error', () => {
      const error = { error: 'boom' };
      expect(verifyOutcome(stored([numberOf(0, error, false), numberOf(1, 4), numberOf(2, error, false)], error, false), COMMITTEE, KEYS)).to.equal(null);
    });

    it('leaves late votes out of the median and does not check them', () => {
      const late = { ...numberOf(2, 1000), late: true, signature: '00'.repeat(64) };
      expect(verifyOutcome(stored([numberOf(0, 30), numberOf(1, 10), late], 10), COMMITTEE, KEYS)).to.equal(null);
      expect(verifyOutcome(stored([numberOf(0, 30), numberOf(1, 10), { ...numberOf(2, 1000), late: true }], 30), COMMITTEE, KEYS)).to.equal('the stored result is not the one the votes agree on');
    });
  });

  it('refuses votes of a node whose key is not registered', () => {
    expect(verifyOutcome(honest(), COMMITTEE, new Map([...KEYS].filter(([id]) => id !== nodes[0].nodeId)))).to.equal(`the vote of ${nodes[0].nodeId} does not verify (not_member)`);
  });
});
