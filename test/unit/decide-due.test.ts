// Consensus's due-time decisions (a deadline applies only when it really passed, grace closes a
// median) and what a request whose voting closed adds to its nodes' statistics.
import { expect } from 'chai';
import { toHex } from '../../lib/crypto/bytes.ts';
import { computeResultHash, errorResult } from '../../lib/crypto/canonical-json.ts';
import type { DueEntry } from '../../lib/repository/due.ts';
import type { Assignment, Outcome, RequestRecord, StoredVote } from '../../lib/repository/types.ts';
import { decideDue } from '../../lib/roles/consensus/decide-due.ts';
import { computeRequestNodeStats } from '../../lib/roles/consensus/decide-node-stats.ts';

const CREATED_MS = Date.parse('2026-01-01T00:00:00.000Z');
const DEADLINE_MS = 30_000;
const COMMITTEE = ['node_a', 'node_b', 'node_c'];
const EXACT: Assignment = { round: 5, roundSeed: 'ab', committee: COMMITTEE, quorum: 2, aggregation: 'exact', assignedAt: '2026-01-01T00:00:00.100Z' };
const MEDIAN: Assignment = { ...EXACT, aggregation: 'median' };

const vote = (nodeId: string, value: unknown, seq: number, extra: Partial<StoredVote> = {}): StoredVote => ({
  nodeId, round: 5, ok: !(typeof value === 'object' && value !== null && 'error' in value), resultHash: toHex(computeResultHash(value)), value, signature: 'ee'.repeat(64), seq, ...extra,
});

function request(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 'req_1', projectId: 'prj_a', version: 1, codeCid: 'bafkreitest', source: 'api', input: null,
    createdAt: new Date(CREATED_MS).toISOString(), status: 'assigned', assignment: EXACT, votes: [], ...overrides,
  };
}

const deadline: DueEntry = { kind: 'deadline', requestId: 'req_1', dueAtMs: CREATED_MS + DEADLINE_MS };
const grace: DueEntry = { kind: 'grace', requestId: 'req_1', dueAtMs: CREATED_MS + 2000 };
const at = (nowMs: number) => ({ nowMs, nowIso: new Date(nowMs).toISOString(), requestDeadlineMs: DEADLINE_MS });
const TIMEOUT = { kind: 'fail', failure: { code: 'timeout', message: 'no agreed result within 30000 ms of acceptance' } };
const PAST = CREATED_MS + DEADLINE_MS;

describe('decideDue', () => {
  const median = (value: number) => ({ ok: true, value, resultHash: toHex(computeResultHash(value)) });
  const cases: Array<[string, DueEntry, RequestRecord | null, number, unknown]> = [
    ['drops the entry of a request that is gone', deadline, null, PAST, { kind: 'drop' }],
    ['moves a deadline written before the request deadline, applying nothing', { ...deadline, dueAtMs: CREATED_MS }, request(), CREATED_MS + 10, { kind: 'move', dueAtMs: PAST }],
    ['moves a deadline whose score passed while the request deadline has not', deadline, request(), PAST - 1, { kind: 'move', dueAtMs: PAST }],
    ['fails an assigned request timeout once its deadline passed by its accepted-at time', { ...deadline, dueAtMs: 0 }, request(), PAST, TIMEOUT],
    ['fails a queued request timeout too', deadline, request({ status: 'queued', assignment: undefined }), PAST + 5, TIMEOUT],
    ['fails a request with votes that reach nothing timeout', deadline, request({ votes: [vote('node_a', 1, 0), vote('node_b', 2, 1)] }), PAST, TIMEOUT],
    ['finalizes a median with q ok numbers at its deadline with what it has', deadline, request({ assignment: MEDIAN, votes: [vote('node_a', 9, 0), vote('node_b', 3, 1)] }), PAST, {
      kind: 'agree', voteCount: 2, outcome: { ...median(3), supporters: ['node_a', 'node_b'], agreedAt: new Date(PAST).toISOString() },
    }],
    ['settles a request whose voting closed (agreed, failed, published)', deadline, request({ status: 'agreed' }), PAST, { kind: 'settle' }],
    ['settles a published request without moving anything, even before its deadline', deadline, request({ status: 'published' }), CREATED_MS, { kind: 'settle' }],
    ['drops the entry of a request failed before any assignment', deadline, request({ status: 'failed', assignment: undefined }), PAST, { kind: 'drop' }],
    ['closes a median after its grace period with the median of its numbers (the lower one of an even count)', grace, request({ assignment: MEDIAN, votes: [vote('node_a', 8, 0), vote('node_b', 4, 1)] }), CREATED_MS + 2000, {
      kind: 'agree', voteCount: 2, outcome: { ...median(4), supporters: ['node_a', 'node_b'], agreedAt: new Date(CREATED_MS + 2000).toISOString() },
    }],
    ['drops a grace entry with nothing to finalize (the deadline stays)', grace, request({ assignment: MEDIAN, votes: [vote('node_a', 8, 0)] }), CREATED_MS + 2000, { kind: 'drop' }],
  ];
  for (const [name, entry, stored, nowMs, expected] of cases) it(name, () => expect(decideDue({ entry, request: stored, ...at(nowMs) })).to.deep.equal(expected));
});

describe('computeRequestNodeStats', () => {
  const outcome = (value: unknown, ok = true): Outcome => ({ ok, value, resultHash: toHex(computeResultHash(value)), supporters: [], agreedAt: '2026-01-01T00:00:01.000Z' });

  it('counts agreed, disagreed and missed against an exact result', () => {
    expect(computeRequestNodeStats({ assignment: EXACT, outcome: outcome(7), votes: [vote('node_a', 7, 0), vote('node_b', 8, 1)] }))
      .to.deep.equal({ node_a: { agreed: 1 }, node_b: { disagreed: 1 }, node_c: { missed: 1 } });
  });

  it('counts a late vote as missed here (it is counted as late when recorded)', () => {
    expect(computeRequestNodeStats({ assignment: EXACT, outcome: outcome(7), votes: [vote('node_a', 7, 0), vote('node_b', 7, 1), vote('node_c', 7, 2, { late: true })] }))
      .to.deep.equal({ node_a: { agreed: 1 }, node_b: { agreed: 1 }, node_c: { missed: 1 } });
  });

  it('agrees every ok number with a median result, and disagrees errors and non-numbers', () => {
    const votes = [vote('node_a', 10, 0), vote('node_b', errorResult('boom'), 1), vote('node_c', 12, 2)];
    expect(computeRequestNodeStats({ assignment: MEDIAN, outcome: outcome(10), votes })).to.deep.equal({ node_a: { agreed: 1 }, node_b: { disagreed: 1 }, node_c: { agreed: 1 } });
  });

  it('agrees a median request agreed on an error only with that error', () => {
    const error = errorResult('boom');
    const votes = [vote('node_a', error, 0), vote('node_b', error, 1), vote('node_c', 5, 2)];
    expect(computeRequestNodeStats({ assignment: MEDIAN, outcome: outcome(error, false), votes })).to.deep.equal({ node_a: { agreed: 1 }, node_b: { agreed: 1 }, node_c: { disagreed: 1 } });
  });

  it('counts only missed seats for a request that failed without a result', () => {
    expect(computeRequestNodeStats({ assignment: EXACT, votes: [vote('node_a', 1, 0)] })).to.deep.equal({ node_b: { missed: 1 }, node_c: { missed: 1 } });
    expect(computeRequestNodeStats({ votes: [] })).to.deep.equal({});
  });
});
