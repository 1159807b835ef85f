// Consensus's pure decisions: every branch of decideVote (the redelivery rules included) and decideFinality.
import { expect } from 'chai';
import { createSigner } from '../../lib/crypto/keys.ts';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { computeVoteBinding, createVote, type Vote } from '../../lib/protocol/vote.ts';
import type { Assignment, RequestRecord, StoredVote } from '../../lib/repository/types.ts';
import { decideFinality, decideVote, type VoteInput } from '../../lib/roles/consensus/decide-vote.ts';
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
  return { vote, request: request(), committee: COMMITTEE, signPublicKey: keyOf(COMMITTEE.includes(vote.nodeId) ? [a, b, c].find((n) => n.nodeId === vote.nodeId)! : outsider), maxOutputBytes: 1024, ...overrides };
}

describe('decideVote', () => {
  const good = voteBy(a, { price: 1 });
  const refuse = (reason: string, isPublishDue = false) => ({ kind: 'refuse', reason, isPublishDue });
  const cases: Array<[string, VoteInput, unknown]> = [
    ['records a valid vote from a committee member', input(good), { kind: 'record' }],
    ['refuses a vote for an unknown request', input(good, { request: null }), refuse('unknown_request')],
    ['refuses a vote for a request not assigned yet', input(good, { request: request({ status: 'queued', assignment: undefined }) }), refuse('unknown_request')],
    ['refuses a vote for another request', input(voteBy(a, 1, { requestId: 'req_2' })), refuse('wrong_request')],
    ['refuses a vote for another round', input(voteBy(a, 1, { round: 4 })), refuse('wrong_round')],
    ['refuses a node outside the recomputed committee', input(voteBy(outsider, 1)), refuse('not_member')],
    ['refuses an unknown node', input(good, { signPublicKey: undefined }), refuse('not_member')],
    ['refuses a vote signed by another key', input(good, { signPublicKey: keyOf(b) }), refuse('bad_signature')],
    ['refuses a value that does not match its hash', input({ ...good, value: { price: 2 } }), refuse('hash_mismatch')],
    ['refuses a vote signed for other code (a swapped blob)', input(createVote(createSigner(a.keys.signSecretKey), { requestId: 'req_1', nodeId: a.nodeId, round: 5, ok: true, value: { price: 1 } }, { ...BINDING, codeHash: new Uint8Array(32) })), refuse('bad_signature')],
    ['resumes after a redelivered vote already recorded', input(good, { request: request({ votes: [stored(good, 0)] }) }), { kind: 'resume' }],
    ['skips a redelivered vote of a request that moved on', input(good, { request: request({ status: 'published', votes: [stored(good, 0)] }) }), { kind: 'skip', status: 'published' }],
    ['refuses a second, different vote of the same node as a duplicate', input(voteBy(a, { price: 9 }), { request: request({ votes: [stored(good, 0)] }) }), refuse('duplicate')],
    ['refuses a late vote and asks for the publication again while agreed', input(good, { request: request({ status: 'agreed' }) }), refuse('already_final', true)],
    ['refuses a late vote without republishing once failed', input(good, { request: request({ status: 'failed' }) }), refuse('already_final')],
    ['refuses a result above the output ceiling', input(voteBy(a, 'x'.repeat(2000))), refuse('oversized')],
    ['refuses an error message longer than the 4 KiB cut', input(voteBy(a, { error: 'e'.repeat(5000) }, { ok: false })), refuse('oversized')],
    ['records an error at the cut', input(voteBy(a, { error: `${'e'.repeat(4096)}…` }, { ok: false })), { kind: 'record' }],
  ];
  for (const [name, given, expected] of cases) it(name, () => expect(decideVote(given)).to.deep.equal(expected));
});

describe('decideFinality', () => {
  const [va, vb, vc] = [voteBy(a, 1), voteBy(b, 1), voteBy(c, 2)];
  const agreed = (supporters: string[], value: unknown, resultHash: string) => ({ kind: 'agree', outcome: { ok: true, value, resultHash, supporters, agreedAt: new Date(NOW_MS).toISOString() } });
  const cases: Array<[string, Assignment, StoredVote[], unknown]> = [
    ['stays pending below the quorum', ASSIGNMENT, [stored(va, 0)], { kind: 'pending' }],
    ['agrees when the quorum agrees', ASSIGNMENT, [stored(va, 0), stored(vb, 1)], agreed([a.nodeId, b.nodeId], 1, va.resultHash)],
    ['stays pending while a value can still reach the quorum', ASSIGNMENT, [stored(va, 0), stored(vc, 1)], { kind: 'pending' }],
    ['fails no_quorum once no value can reach it', { ...ASSIGNMENT, quorum: 3 }, [stored(va, 0), stored(vc, 1)], { kind: 'fail', failure: { code: 'no_quorum', message: '2 of 3 votes and no value can reach the quorum of 3' } }],
    ['takes the lower median of the first quorum of numbers', { ...ASSIGNMENT, aggregation: 'median' }, [stored(vc, 0), stored(va, 1)], agreed([c.nodeId, a.nodeId], 1, va.resultHash)],
  ];
  for (const [name, assignment, votes, expected] of cases) it(name, () => expect(decideFinality(assignment, votes, new Date(NOW_MS).toISOString())).to.deep.equal(expected));
});
