// Consensus's pure decisions: every branch of decideVote, decideFinality, and which vote decides (decideVoteEffect) in every arrival order.
import { expect } from 'chai';
import { createSigner } from '../../lib/crypto/keys.ts';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { computeVoteBinding, createVote, type Vote } from '../../lib/protocol/vote.ts';
import type { Assignment, RequestRecord, StoredVote } from '../../lib/repository/types.ts';
import { decideFinality, decideVote, decideVoteEffect, type VoteInput } from '../../lib/roles/consensus/decide-vote.ts';
import { buildNodes } from '../support/builders.ts';

const [a, b, c, outsider] = buildNodes(4);
const COMMITTEE = [a.nodeId, b.nodeId, c.nodeId];
const ASSIGNMENT: Assignment = { round: 5, roundSeed: 'ab', committee: COMMITTEE, quorum: 2, aggregation: 'exact', assignedAt: '2026-01-01T00:00:00.000Z' };
const NOW_MS = Date.parse('2026-01-01T00:00:01.000Z');

const CODE_CID = computeContentId(utf8('export default () => 1'));
const BINDING = computeVoteBinding({ createdAt: '2026-01-01T00:00:00.000Z', codeCid: CODE_CID, input: null }, ASSIGNMENT);
const voteBy = (node: typeof a, value: unknown, overrides: Partial<{ ok: boolean; round: number; requestId: string }> = {}): Vote =>
  createVote(createSigner(node.keys.signSecretKey), { requestId: 'req_1', nodeId: node.nodeId, round: 5, ok: true, value, ...overrides }, BINDING);
const stored = (vote: Vote, seq: number): StoredVote => {
  const { requestId: _ignored, ...rest } = vote;
  return { ...rest, seq };
};

function request(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return { id: 'req_1', projectId: 'prj_a', version: 1, codeCid: CODE_CID, source: 'api', input: null, createdAt: '2026-01-01T00:00:00.000Z', status: 'assigned', assignment: ASSIGNMENT, votes: [], ...overrides };
}

const keyOf = (node: typeof a) => node.keys.signPublicKey;
function input(vote: Vote, overrides: Partial<VoteInput> = {}): VoteInput {
  return { vote, request: request(), committee: COMMITTEE, binding: BINDING, signPublicKey: keyOf(COMMITTEE.includes(vote.nodeId) ? [a, b, c].find((n) => n.nodeId === vote.nodeId)! : outsider), maxOutputBytes: 1024, ...overrides };
}

describe('decideVote', () => {
  const good = voteBy(a, { price: 1 });
  const refuse = (reason: string) => ({ kind: 'refuse', reason });
  const cases: Array<[string, VoteInput, unknown]> = [
    ['records a valid vote from a committee member, with its result\'s size as JSON', input(good), { kind: 'record', valueBytes: 11 }],
    ['refuses a vote for an unknown request', input(good, { request: null }), refuse('unknown_request')],
    ['refuses a vote for a request not assigned yet', input(good, { request: request({ status: 'queued', assignment: undefined }) }), refuse('unknown_request')],
    ['refuses a vote for another request', input(voteBy(a, 1, { requestId: 'req_2' })), refuse('wrong_request')],
    ['refuses a vote for another round', input(voteBy(a, 1, { round: 4 })), refuse('wrong_round')],
    ['refuses a node outside the recomputed committee', input(voteBy(outsider, 1)), refuse('not_member')],
    ['refuses an unknown node', input(good, { signPublicKey: undefined }), refuse('not_member')],
    ['refuses a vote signed by another key', input(good, { signPublicKey: keyOf(b) }), refuse('bad_signature')],
    ['refuses a value that does not match its hash', input({ ...good, value: { price: 2 } }), refuse('hash_mismatch')],
    ['refuses a vote signed for other code (a swapped blob)', input(createVote(createSigner(a.keys.signSecretKey), { requestId: 'req_1', nodeId: a.nodeId, round: 5, ok: true, value: { price: 1 } }, { ...BINDING, codeHash: new Uint8Array(32) })), refuse('bad_signature')],
    ['refuses a vote when the request cannot be bound', input(good, { binding: undefined }), refuse('unknown_request')],
    ['records a vote after agreement that passes every check (the store keeps it as late)', input(good, { request: request({ status: 'agreed' }) }), { kind: 'record', valueBytes: 11 }],
    ['records a vote after failure or publication the same way', input(good, { request: request({ status: 'published' }) }), { kind: 'record', valueBytes: 11 }],
    ['still refuses a late vote signed by another key', input(good, { request: request({ status: 'failed' }), signPublicKey: keyOf(b) }), refuse('bad_signature')],
    ['still refuses a late vote from outside the committee', input(voteBy(outsider, 1), { request: request({ status: 'agreed' }) }), refuse('not_member')],
    ['refuses a result above the output ceiling', input(voteBy(a, 'x'.repeat(2000))), refuse('oversized')],
    ['records a result at the output ceiling (its JSON, quotes included, in UTF-8 bytes)', input(voteBy(a, 'é'.repeat(511))), { kind: 'record', valueBytes: 1024 }],
    ['refuses an error message longer than the 4 KiB cut', input(voteBy(a, { error: 'e'.repeat(5000) }, { ok: false })), refuse('oversized')],
    ['records an error at the cut (its message\'s size)', input(voteBy(a, { error: `${'e'.repeat(4096)}…` }, { ok: false })), { kind: 'record', valueBytes: 4099 }],
    ['refuses an error vote without a message', input(voteBy(a, { error: 7 }, { ok: false })), refuse('oversized')],
  ];
  for (const [name, given, expected] of cases) it(name, () => expect(decideVote(given)).to.deep.equal(expected));
});

describe('decideFinality', () => {
  const [va, vb, vc] = [voteBy(a, 1), voteBy(b, 1), voteBy(c, 2)];
  const AT = new Date(NOW_MS).toISOString();
  const MEDIAN: Assignment = { ...ASSIGNMENT, aggregation: 'median' };
  const agreed = (supporters: string[], value: unknown, resultHash: string, voteCount?: number) => ({
    kind: 'agree', outcome: { ok: true, value, resultHash, supporters, agreedAt: AT }, ...(voteCount === undefined ? {} : { voteCount }),
  });
  const cases: Array<[string, Assignment, StoredVote[], boolean, unknown]> = [
    ['stays pending below the quorum', ASSIGNMENT, [stored(va, 0)], false, { kind: 'pending' }],
    ['agrees when the quorum agrees (exact: at q, no vote count to hold)', ASSIGNMENT, [stored(va, 0), stored(vb, 1)], false, agreed([a.nodeId, b.nodeId], 1, va.resultHash)],
    ['stays pending while a value can still reach the quorum', ASSIGNMENT, [stored(va, 0), stored(vc, 1)], false, { kind: 'pending' }],
    ['fails no_quorum once no value can reach it', { ...ASSIGNMENT, quorum: 3 }, [stored(va, 0), stored(vc, 1)], false, { kind: 'fail', failure: { code: 'no_quorum', message: '2 of 3 votes and no value can reach the quorum of 3' } }],
    ['starts the grace period of a median at q ok numbers', MEDIAN, [stored(vc, 0), stored(va, 1)], false, { kind: 'grace' }],
    ['takes the lower median of the numbers it has once closed, holding their count', MEDIAN, [stored(vc, 0), stored(va, 1)], true, agreed([c.nodeId, a.nodeId], 1, va.resultHash, 2)],
    ['takes the median of all k votes without waiting', MEDIAN, [stored(vc, 0), stored(va, 1), stored(voteBy(b, 3), 2)], false, agreed([c.nodeId, a.nodeId, b.nodeId], 2, vc.resultHash, 3)],
    ['leaves a late vote out of the median and its count', MEDIAN, [stored(vc, 0), stored(va, 1), { ...stored(voteBy(b, 3), 2), late: true }], true, agreed([c.nodeId, a.nodeId], 1, va.resultHash, 2)],
    ['stays pending when closed with fewer than q numbers (the deadline decides)', MEDIAN, [stored(vc, 0)], true, { kind: 'pending' }],
  ];
  for (const [name, assignment, votes, isClosed, expected] of cases) it(name, () => expect(decideFinality(assignment, votes, AT, isClosed)).to.deep.equal(expected));
});

describe('decideVoteEffect', () => {
  const AT = new Date(NOW_MS).toISOString();
  const MEDIAN: Assignment = { ...ASSIGNMENT, aggregation: 'median' };
  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const nodesOf = [a, b, c];
  /** The effect of each vote of `values` (by node a, b, c) in arrival `order`, each seeing every vote recorded before and with it. */
  function effects(assignment: Assignment, values: unknown[], order: number[], oks = [true, true, true]) {
    const arrived = order.map((i, seq) => stored(voteBy(nodesOf[i], values[i], { ok: oks[i] }), seq));
    return arrived.map((vote, seq) => decideVoteEffect(assignment, arrived.slice(0, seq + 1), vote.nodeId, AT).kind);
  }
  /** The same, when every vote sees all three (they raced: each recorded before any looked). */
  function raced(assignment: Assignment, values: unknown[], order: number[]) {
    const arrived = order.map((i, seq) => stored(voteBy(nodesOf[i], values[i]), seq));
    return arrived.map((vote) => decideVoteEffect(assignment, arrived, vote.nodeId, AT).kind);
  }

  for (const order of orders) {
    it(`exact, three agreeing votes in order ${order.join('')}: the second decides, the third is counted`, () => {
      expect(effects(ASSIGNMENT, [1, 1, 1], order)).to.deep.equal(['pending', 'agree', 'counted']);
      expect(raced(ASSIGNMENT, [1, 1, 1], order)).to.deep.equal(['pending', 'agree', 'counted']);
    });
    it(`median, three numbers in order ${order.join('')}: the second starts the grace period, the third decides`, () => {
      expect(effects(MEDIAN, [1, 2, 3], order)).to.deep.equal(['pending', 'grace', 'agree']);
      expect(raced(MEDIAN, [1, 2, 3], order)).to.deep.equal(['pending', 'grace', 'agree']);
    });
  }

  it('exact, one dissent first: the vote that brings the quorum decides, on the votes up to it', () => {
    const arrived = [stored(voteBy(c, 2), 0), stored(voteBy(a, 1), 1), stored(voteBy(b, 1), 2)];
    expect(decideVoteEffect(ASSIGNMENT, arrived, b.nodeId, AT)).to.deep.equal({
      kind: 'agree', outcome: { ok: true, value: 1, resultHash: arrived[1].resultHash, supporters: [a.nodeId, b.nodeId], agreedAt: AT },
    });
  });

  it('no_quorum is decided by the vote that makes it certain, and never again', () => {
    const assignment = { ...ASSIGNMENT, quorum: 3 };
    expect(effects(assignment, [1, 2, 3], [0, 1, 2])).to.deep.equal(['pending', 'fail', 'counted']);
  });

  it('leaves late votes out: a late vote finds nothing to decide', () => {
    const arrived = [stored(voteBy(a, 1), 0), stored(voteBy(b, 1), 1), { ...stored(voteBy(c, 1), 2), late: true }];
    expect(decideVoteEffect(ASSIGNMENT, arrived, c.nodeId, AT)).to.deep.equal({ kind: 'pending' });
  });
});
