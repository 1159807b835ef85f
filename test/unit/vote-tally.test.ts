// Unit tests for vote bytes, vote admission (each refusal reason) and the exact/median tally.
import { expect } from 'chai';
import { concatBytes, fromHex, toHex, u64be, utf8 } from '../../lib/crypto/bytes.ts';
import { computeResultHash, errorResult } from '../../lib/crypto/canonical-json.ts';
import { createSigner } from '../../lib/crypto/keys.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { createSigner as signerOf, verifySignature } from '../../lib/crypto/keys.ts';
import { checkVote, computeVoteBinding, createVote, encodeVoteMessage, type Vote, type VoteBinding, type VoteContext } from '../../lib/protocol/vote.ts';
import vector from '../fixtures/vote-v2.json' with { type: 'json' };
import { computeTally, defaultQuorum, type TalliedVote, type TallyRule } from '../../lib/protocol/vote-tally.ts';
import { buildNodes } from '../support/builders.ts';

const nodes = buildNodes(6);
const committee = nodes.slice(0, 5).map((n) => n.nodeId);
const outsider = nodes[5];

const BINDING: VoteBinding = computeVoteBinding(
  { createdAt: '2026-03-04T05:06:07.089Z', codeCid: computeContentId(utf8('export default () => 1')), input: { x: 1 } },
  { committee, quorum: 3, aggregation: 'exact' },
);

function voteFrom(index: number, value: unknown, ok = true, requestId = 'req_v', round = 12, binding = BINDING): Vote {
  const node = nodes[index];
  return createVote(createSigner(node.keys.signSecretKey), { requestId, nodeId: node.nodeId, round, ok, value }, binding);
}

function context(index: number, overrides: Partial<VoteContext> = {}): VoteContext {
  return { requestId: 'req_v', round: 12, committee, votedNodeIds: [], isFinal: false, signPublicKey: nodes[index].keys.signPublicKey, binding: BINDING, ...overrides };
}

const tallied = (index: number, value: unknown, ok = true): TalliedVote => ({
  nodeId: nodes[index].nodeId, ok, value, resultHash: toHex(computeResultHash(value)),
});

describe('vote message (protocol v2)', () => {
  it('lays out the signed bytes: tag, request id, round, accepted-at, k, q, aggregation, code, input and result hashes, ok', () => {
    const resultHash = computeResultHash(42);
    const bytes = encodeVoteMessage({ ...BINDING, requestId: 'req_é', round: 3, ok: true, resultHash });
    expect(toHex(bytes)).to.equal(toHex(concatBytes(
      utf8('gw/vote/v2'), u64be(6), utf8('req_é'), u64be(3), u64be(Date.parse('2026-03-04T05:06:07.089Z')), u64be(5), u64be(3), Uint8Array.of(0),
      sha256(utf8('export default () => 1')), sha256(utf8('{"x":1}')), resultHash, Uint8Array.of(1),
    )));
    expect(encodeVoteMessage({ ...BINDING, requestId: 'req_é', round: 3, ok: false, resultHash }).at(-1)).to.equal(0);
    expect(encodeVoteMessage({ ...BINDING, aggregation: 'median', requestId: 'req_é', round: 3, ok: false, resultHash })[bytes.length - 98]).to.equal(1);
  });

  it('matches the fixed vectors in test/fixtures/vote-v2.json, built here from the layout alone', () => {
    const request = vector.request;
    expect(toHex(sha256(utf8(request.code)))).to.equal(vector.binding.codeHash);
    expect(computeContentId(utf8(request.code))).to.equal(request.codeCid);
    expect(toHex(sha256(utf8('{"a":1,"b":2}')))).to.equal(vector.binding.inputHash);
    for (const v of vector.votes) {
      const resultHash = sha256(utf8(JSON.stringify(v.value)));
      const id = utf8(request.id);
      const expected = concatBytes(utf8('gw/vote/v2'), u64be(id.length), id, u64be(7), u64be(Date.parse(request.createdAt)), u64be(3), u64be(2), Uint8Array.of(1),
        fromHex(vector.binding.codeHash), fromHex(vector.binding.inputHash), resultHash, Uint8Array.of(v.ok ? 1 : 0));
      expect(toHex(expected)).to.equal(v.message);
      expect(verifySignature(fromHex(vector.signPublicKey), expected, fromHex(v.signature))).to.equal(true);
      const binding = computeVoteBinding(request, vector.assignment as { committee: string[]; quorum: number; aggregation: 'median' });
      const vote = createVote(signerOf(sha256(concatBytes(utf8('gw/sign-key'), fromHex(vector.nodeSeed)))), { requestId: request.id, nodeId: vector.nodeId, round: 7, ok: v.ok, value: v.value }, binding);
      expect(vote.signature).to.equal(v.signature);
    }
  });

  it('refuses a vote signed for other code, input, time or committee rule', () => {
    const changed: Partial<VoteBinding>[] = [
      { codeHash: sha256(utf8('other code')) }, { inputHash: sha256(utf8('{"x":2}')) }, { createdAtMs: BINDING.createdAtMs + 1 },
      { k: 4 }, { q: 2 }, { aggregation: 'median' },
    ];
    for (const change of changed) {
      expect(checkVote(context(0), voteFrom(0, 1, true, 'req_v', 12, { ...BINDING, ...change })), JSON.stringify(Object.keys(change))).to.equal('bad_signature');
    }
  });
});

describe('checkVote', () => {
  it('accepts a signed vote from a committee member', () => {
    expect(checkVote(context(0), voteFrom(0, { price: 1 }))).to.equal(null);
  });

  it('refuses a vote from outside the committee with not_member', () => {
    expect(checkVote(context(5, { signPublicKey: outsider.keys.signPublicKey }), voteFrom(5, 1))).to.equal('not_member');
  });

  it('refuses a vote signed by another key with bad_signature', () => {
    expect(checkVote(context(0, { signPublicKey: nodes[1].keys.signPublicKey }), voteFrom(0, 1))).to.equal('bad_signature');
  });

  it('refuses a vote whose ok flag was flipped after signing with bad_signature', () => {
    expect(checkVote(context(0), { ...voteFrom(0, 1), ok: false })).to.equal('bad_signature');
  });

  it('refuses a vote whose value does not match its signed hash with hash_mismatch', () => {
    expect(checkVote(context(0), { ...voteFrom(0, 1), value: 2 })).to.equal('hash_mismatch');
  });

  it('refuses a second vote from the same node with duplicate', () => {
    expect(checkVote(context(0, { votedNodeIds: new Set([nodes[0].nodeId]) }), voteFrom(0, 1))).to.equal('duplicate');
  });

  it('refuses a late vote after finality with already_final', () => {
    expect(checkVote(context(2, { isFinal: true }), voteFrom(2, 1))).to.equal('already_final');
  });

  it('refuses votes for another round or request', () => {
    expect(checkVote(context(0), voteFrom(0, 1, true, 'req_v', 13))).to.equal('wrong_round');
    expect(checkVote(context(0), voteFrom(0, 1, true, 'req_other'))).to.equal('wrong_request');
  });

  it('refuses malformed hex without throwing', () => {
    expect(checkVote(context(0), { ...voteFrom(0, 1), signature: 'zz' })).to.equal('bad_signature');
    expect(checkVote(context(0), { ...voteFrom(0, 1), resultHash: 'ab' })).to.equal('bad_signature');
  });

  it('signs an error result as {"error": message} with ok false', () => {
    const vote = voteFrom(0, errorResult('boom'), false);
    expect(vote.resultHash).to.equal(toHex(computeResultHash({ error: 'boom' })));
    expect(checkVote(context(0), vote)).to.equal(null);
    expect(fromHex(vote.signature)).to.have.length(64);
  });
});

describe('computeTally', () => {
  const exact = (committeeSize: number, quorum = defaultQuorum(committeeSize)): TallyRule => ({ committeeSize, quorum, aggregation: 'exact' });
  const median = (committeeSize: number, quorum = defaultQuorum(committeeSize)): TallyRule => ({ committeeSize, quorum, aggregation: 'median' });

  it('uses a strict majority as the default quorum', () => {
    expect([1, 2, 3, 4, 5].map(defaultQuorum)).to.deep.equal([1, 2, 2, 3, 3]);
  });

  it('agrees at once with k=1', () => {
    expect(computeTally(exact(1), [tallied(0, 'a')])).to.deep.include({ status: 'agreed', ok: true, value: 'a', supporters: [nodes[0].nodeId] });
  });

  it('agrees on the majority with k=5 and 2 wrong votes', () => {
    const votes = [tallied(0, 7), tallied(1, 8), tallied(2, 7), tallied(3, 9)];
    expect(computeTally(exact(5), votes)).to.deep.equal({ status: 'pending' });
    const outcome = computeTally(exact(5), [...votes, tallied(4, 7)]);
    expect(outcome).to.deep.equal({
      status: 'agreed', ok: true, value: 7, resultHash: toHex(computeResultHash(7)),
      supporters: [nodes[0].nodeId, nodes[2].nodeId, nodes[4].nodeId],
    });
  });

  it('agrees on an error when all nodes throw the same error', () => {
    const error = errorResult('upstream returned 500');
    const outcome = computeTally(exact(3), [tallied(0, error, false), tallied(1, error, false)]);
    expect(outcome).to.deep.include({ status: 'agreed', ok: false, value: error });
  });

  it('does not merge an ok value with an error of the same hash', () => {
    const value = { error: 'x' };
    expect(computeTally(exact(3), [tallied(0, value, true), tallied(1, value, false)])).to.deep.equal({ status: 'pending' });
  });

  it('declares no_quorum as soon as no value can reach q', () => {
    expect(computeTally(exact(3), [tallied(0, 1), tallied(1, 2)])).to.deep.equal({ status: 'pending' });
    expect(computeTally(exact(3), [tallied(0, 1), tallied(1, 2), tallied(2, 3)])).to.deep.equal({ status: 'no_quorum' });
    expect(computeTally(exact(5), [tallied(0, 1), tallied(1, 2), tallied(2, 3)])).to.deep.equal({ status: 'pending' });
    expect(computeTally(exact(5), [tallied(0, 1), tallied(1, 2), tallied(2, 3), tallied(3, 4)])).to.deep.equal({ status: 'no_quorum' });
  });

  it('keeps the first agreement when later votes arrive (a late vote after finality changes nothing)', () => {
    const first = computeTally(exact(3), [tallied(0, 'a'), tallied(1, 'a')]);
    const withLate = computeTally(exact(3), [tallied(0, 'a'), tallied(1, 'a'), tallied(2, 'b')]);
    expect(withLate).to.deep.equal(first);
  });

  it('waits with q ok numbers until all k votes are in, then takes the lower median of all of them', () => {
    expect(computeTally(median(5), [tallied(0, 10), tallied(1, 30)])).to.deep.equal({ status: 'pending' });
    expect(computeTally(median(5), [tallied(0, 10), tallied(1, 30), tallied(2, 20)])).to.deep.equal({ status: 'quorum' });
    const all = computeTally(median(5), [tallied(0, 10), tallied(1, 30), tallied(2, 20), tallied(3, 50), tallied(4, 40)]);
    expect(all).to.deep.equal({
      status: 'agreed', ok: true, value: 30, resultHash: toHex(computeResultHash(30)), supporters: [0, 1, 2, 3, 4].map((i) => nodes[i].nodeId),
    });
  });

  it('takes the median of the ok numbers it has once closed (grace or deadline), the lower one for an even count', () => {
    expect(computeTally(median(5), [tallied(0, 10), tallied(1, 30), tallied(2, 20)], true)).to.deep.include({ status: 'agreed', value: 20 });
    expect(computeTally(median(5), [tallied(0, 40), tallied(1, 10), tallied(2, 30), tallied(3, 20)], true)).to.deep.include({ status: 'agreed', value: 20 });
    expect(computeTally(median(4, 2), [tallied(0, 40), tallied(1, 10)], true)).to.deep.include({ value: 10, resultHash: toHex(computeResultHash(10)) });
    expect(computeTally(median(5), [tallied(0, 10), tallied(1, 30)], true), 'fewer than q numbers stay pending').to.deep.equal({ status: 'pending' });
  });

  it('ignores errors and non-numbers for the median and reports no_quorum when too few numbers can arrive', () => {
    const votes = [tallied(0, errorResult('a'), false), tallied(1, 'text'), tallied(2, 5)];
    expect(computeTally(median(3), votes)).to.deep.equal({ status: 'no_quorum' });
    expect(computeTally(median(5), votes)).to.deep.equal({ status: 'pending' });
  });

  it('never agrees on an ok value that is not a number under median', () => {
    expect(computeTally(median(3), [tallied(0, 'x'), tallied(1, 'x')])).to.deep.equal({ status: 'no_quorum' });
    expect(computeTally(median(3), [tallied(0, 'x'), tallied(1, 'x')], true)).to.deep.equal({ status: 'no_quorum' });
  });

  it('agrees on an error under median when q counted votes carry the same error first', () => {
    const error = errorResult('upstream returned 500');
    expect(computeTally(median(3), [tallied(0, error, false), tallied(1, error, false)])).to.deep.include({ status: 'agreed', ok: false, value: error });
    expect(computeTally(median(5, 2), [tallied(0, error, false), tallied(1, 7), tallied(2, error, false)])).to.deep.include({ status: 'agreed', ok: false });
  });

  it('keeps the median once q numbers came first, whatever errors agree after them', () => {
    const error = errorResult('boom');
    const votes = [tallied(0, 1), tallied(1, 2), tallied(2, error, false), tallied(3, error, false)];
    expect(computeTally(median(5, 2), votes)).to.deep.equal({ status: 'quorum' });
    expect(computeTally(median(5, 2), votes, true)).to.deep.include({ status: 'agreed', ok: true, value: 1 });
  });

  it('never counts a late vote (recorded after finality)', () => {
    expect(computeTally(exact(3), [tallied(0, 'a'), { ...tallied(1, 'a'), late: true }])).to.deep.equal({ status: 'pending' });
    expect(computeTally(median(3), [tallied(0, 1), tallied(1, 3), { ...tallied(2, 100), late: true }], true)).to.deep.include({ value: 1 });
    expect(computeTally(exact(2), [tallied(0, 'a'), { ...tallied(1, 'b'), late: true }]), 'a late vote leaves its seat outstanding').to.deep.equal({ status: 'pending' });
  });

  it('refuses a quorum outside 1..k', () => {
    expect(() => computeTally(exact(3, 4), [])).to.throw(RangeError, 'bad quorum');
    expect(() => computeTally(exact(3, 0), [])).to.throw(RangeError, 'bad quorum');
  });
});
