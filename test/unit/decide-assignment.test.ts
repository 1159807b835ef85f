// The receiver's pure decision, branch by branch.
import { expect } from 'chai';
import type { Assignment, Project, RequestRecord } from '../../lib/repository/types.ts';
import { decideAssignment, type AssignmentInput } from '../../lib/roles/receiver/decide-assignment.ts';
import { TEST_LIMITS } from '../support/gateway.ts';

const CREATED_MS = Date.parse('2026-01-01T00:00:00.000Z');
const PROJECT: Project = {
  id: 'prj_a', name: 'a', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'median', limits: TEST_LIMITS,
  version: 1, codeCid: 'bafk', createdAt: new Date(CREATED_MS).toISOString(),
};
const ASSIGNMENT: Assignment = { round: 4, roundSeed: 'ab', committee: ['n1', 'n2', 'n3'], quorum: 2, aggregation: 'median', assignedAt: new Date(CREATED_MS).toISOString() };

function request(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return { id: 'req_1', projectId: 'prj_a', version: 1, codeCid: 'bafk', source: 'api', input: null, createdAt: new Date(CREATED_MS).toISOString(), status: 'queued', votes: [], ...overrides };
}

const selector = (eligible: number) => ({ eligible, select: (_id: string, size: number) => ['n1', 'n2', 'n3', 'n4'].slice(0, size) });

function input(overrides: Partial<AssignmentInput> = {}): AssignmentInput {
  return { request: request(), project: PROJECT, round: { number: 7, seed: 'cd' }, selector: selector(4), nowMs: CREATED_MS + 100, nowIso: new Date(CREATED_MS + 100).toISOString(), assignWaitMs: 10_000, roundMs: 2000, ...overrides };
}

describe('decideAssignment', () => {
  const cases: Array<[string, Partial<AssignmentInput>, unknown]> = [
    ['redispatches a redelivered job whose assignment was written', { request: request({ status: 'assigned', assignment: ASSIGNMENT }) }, { kind: 'redispatch', assignment: ASSIGNMENT }],
    ['skips a request that moved on (agreed)', { request: request({ status: 'agreed' }) }, { kind: 'skip', status: 'agreed' }],
    ['skips a final request', { request: request({ status: 'failed' }) }, { kind: 'skip', status: 'failed' }],
    ['skips an assigned request without its assignment', { request: request({ status: 'assigned' }) }, { kind: 'skip', status: 'assigned' }],
    ['fails a request whose project is gone', { project: null }, { kind: 'fail', failure: { code: 'rejected', message: 'the project no longer exists' } }],
    ['waits a round (at most a second) before the first frozen round', { selector: null }, { kind: 'wait', untilMs: CREATED_MS + 100 + 1000 }],
    ['waits a short round', { selector: null, roundMs: 300 }, { kind: 'wait', untilMs: CREATED_MS + 400 }],
    ['waits without a current round', { round: null }, { kind: 'wait', untilMs: CREATED_MS + 1100 }],
    ['waits for nodes below the quorum', { selector: selector(1) }, { kind: 'wait', untilMs: CREATED_MS + 1100 }],
    ['waits with the quorum but fewer than k nodes: committees are exactly k', { selector: selector(2) }, { kind: 'wait', untilMs: CREATED_MS + 1100 }],
    ['fails no_nodes once the wait is over', { selector: selector(2), nowMs: CREATED_MS + 10_000 }, { kind: 'fail', failure: { code: 'no_nodes', message: '2 eligible node(s), the committee needs 3' } }],
    ['fails no_nodes with no tickets at all after the wait', { selector: null, nowMs: CREATED_MS + 20_000 }, { kind: 'fail', failure: { code: 'no_nodes', message: '0 eligible node(s), the committee needs 3' } }],
    ['assigns the drawn committee in the current round', {}, { kind: 'assign', assignment: { round: 7, roundSeed: 'cd', committee: ['n1', 'n2', 'n3'], quorum: 2, aggregation: 'median', assignedAt: new Date(CREATED_MS + 100).toISOString() } }],
  ];
  for (const [name, overrides, expected] of cases) {
    it(name, () => expect(decideAssignment(input(overrides))).to.deep.equal(expected));
  }
});
