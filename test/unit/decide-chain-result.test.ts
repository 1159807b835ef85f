// What the contract may receive: a published chain request's checked value, only when the request
// still says what its ledger entry says and the contract's pending request carries the input that ran.
import { expect } from 'chai';
import { utf8 } from '../../lib/crypto/bytes.ts';
import { computeContentId } from '../../lib/crypto/content-id.ts';
import { GENESIS_PREV_HASH, computeLedgerHash, type LedgerFields } from '../../lib/protocol/ledger.ts';
import type { LedgerEntry, RequestRecord } from '../../lib/repository/types.ts';
import { decideChainResult } from '../../lib/roles/sender/decide-chain-result.ts';
import { computeLedgerFields } from '../../lib/roles/sender/decide-publication.ts';
import { buildNodes, buildOutcome, buildVotes } from '../support/builders.ts';

const AT = '2026-01-01T00:00:00.000Z';
const nodes = buildNodes(3);
const ASSIGNMENT = { round: 4, roundSeed: 'ab'.repeat(32), committee: nodes.map((n) => n.nodeId), quorum: 2, aggregation: 'exact' as const, assignedAt: AT };
const BASE = { id: 'req_1', createdAt: AT, codeCid: computeContentId(utf8('export default (i) => i')), input: { price: 7 }, assignment: ASSIGNMENT };
const VOTES = buildVotes(nodes, BASE, { price: 7 });
const PENDING = { reqId: 5, user: 'archway1user', input: '{ "price": 7 }' };

const published = (overrides: Partial<RequestRecord> = {}): RequestRecord => ({
  ...BASE, projectId: 'prj_a', version: 1, source: 'chain', status: 'published', outcome: buildOutcome(VOTES, { price: 7 }, AT),
  votes: VOTES.map(({ requestId: _id, ...v }, seq) => ({ ...v, seq })), origin: { chainProjectId: 2, reqId: 5, user: 'stored user', input: 'stored input' }, ...overrides,
});
function entryOf(request: RequestRecord, overrides: Partial<LedgerFields> = {}): LedgerEntry {
  const fields: LedgerFields = { seq: 3, prevHash: GENESIS_PREV_HASH, ...computeLedgerFields({ ...request, assignment: request.assignment!, outcome: request.outcome! }), ...overrides };
  return { ...fields, hash: computeLedgerHash(fields) };
}

describe('decideChainResult', () => {
  it('sends the checked value, echoing the contract\'s own user and input', () => {
    expect(decideChainResult(published(), entryOf(published()), PENDING, { price: 7 })).to.deep.equal({
      kind: 'send', result: { projectId: 2, reqId: 5, user: 'archway1user', request: '{ "price": 7 }', result: '{"price":7}' },
    });
  });

  const refused: Array<[string, RequestRecord, LedgerEntry | null, unknown, string]> = [
    ['a request that is not published', published({ status: 'agreed' }), entryOf(published()), { price: 7 }, 'it is agreed, not a published chain request'],
    ['a request the ledger has no entry for', published(), null, { price: 7 }, 'the ledger holds no entry for it'],
    ['another request\'s entry', published(), entryOf(published({ id: 'req_2' })), { price: 7 }, 'the ledger holds no entry for it'],
    ['an entry whose hash does not cover it', published(), { ...entryOf(published()), resultHash: 'ee'.repeat(32) }, { price: 7 }, 'its ledger entry 3 does not hash to its hash'],
    ['a result other than the one appended', published(), entryOf(published(), { resultHash: 'ee'.repeat(32) }), { price: 7 }, 'its resultHash is not the one in ledger entry 3'],
    ['votes other than the ones that counted', published({ votes: [] }), entryOf(published()), { price: 7 }, 'its votesDigest is not the one in ledger entry 3'],
    ['a pending request with another input', published(), entryOf(published()), { price: 8 }, 'the contract\'s pending request 5 has another input than the one that ran'],
  ];
  for (const [name, request, entry, pendingInput, reason] of refused) {
    it(`refuses ${name}`, () => expect(decideChainResult(request, entry, PENDING, pendingInput)).to.deep.equal({ kind: 'unverified', reason }));
  }
});
