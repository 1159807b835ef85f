// Job payloads are parsed on consume: every malformed shape is an UnrecoverableError naming the field.
import { UnrecoverableError } from 'bullmq';
import { expect } from 'chai';
import { parsePayload } from '../../lib/queue-payloads.ts';
import type { QueueKind } from '../../lib/queues.ts';

const VOTE = { requestId: 'req_1', nodeId: 'node_1', round: 3, ok: true, resultHash: 'a'.repeat(64), value: 1, signature: 'b'.repeat(128) };

function refusal(queue: QueueKind, data: unknown): string {
  try {
    parsePayload(queue, data);
  } catch (error) {
    expect(error).to.be.instanceOf(UnrecoverableError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('job payloads', () => {
  it('accepts every well-formed kind', () => {
    const good: Array<[QueueKind, unknown]> = [
      ['incoming', { kind: 'request', requestId: 'req_1' }],
      ['incoming', { kind: 'request', requestId: 'req_1', projectId: 'prj_1', acceptedAtMs: 1_796_321_456_407 }],
      ['exec', { kind: 'run', requestId: 'req_1' }],
      ['exec', { kind: 'run', requestId: 'req_1', projectId: 'prj_1' }],
      ['ticketRequests', { kind: 'ticket', round: 4 }],
      ['votes', { kind: 'vote', vote: VOTE, logs: ['a'] }],
      ['votes', { kind: 'vote', vote: VOTE }],
      ['tickets', { kind: 'ticket', nodeId: 'node_1', round: 4, beta: 'c'.repeat(128), proof: 'd'.repeat(160) }],
      ['publish', { kind: 'publish', requestId: 'req_1' }],
    ];
    for (const [queue, data] of good) expect(parsePayload(queue, data)).to.equal(data);
  });

  const bad: Array<[string, QueueKind, unknown, string]> = [
    ['a non-object', 'incoming', 'req_1', 'malformed incoming job: not an object'],
    ['null', 'publish', null, 'malformed publish job: not an object'],
    ['a missing kind', 'incoming', { requestId: 'req_1' }, 'malformed incoming job: unknown kind'],
    ['a kind of another queue', 'exec', { kind: 'publish', requestId: 'req_1' }, 'malformed exec job: unknown kind'],
    ['an inherited kind', 'exec', { kind: 'toString', requestId: 'req_1' }, 'malformed exec job: unknown kind'],
    ['an id with a colon', 'exec', { kind: 'run', requestId: 'req:1' }, 'malformed exec job: bad requestId'],
    ['a project hint that is no id', 'exec', { kind: 'run', requestId: 'req_1', projectId: { toString: 'x' } }, 'malformed exec job: bad projectId'],
    ['an acceptance time past the last a Date holds', 'incoming', { kind: 'request', requestId: 'req_1', acceptedAtMs: 8.64e15 + 1 }, 'malformed incoming job: bad acceptedAtMs'],
    ['a fractional acceptance time', 'incoming', { kind: 'request', requestId: 'req_1', acceptedAtMs: 1.5 }, 'malformed incoming job: bad acceptedAtMs'],
    ['a project hint in an incoming job that is no id', 'incoming', { kind: 'request', requestId: 'req_1', projectId: 'a b' }, 'malformed incoming job: bad projectId'],
    ['a huge id', 'publish', { kind: 'publish', requestId: 'r'.repeat(500) }, 'malformed publish job: bad requestId'],
    ['a fractional round', 'ticketRequests', { kind: 'ticket', round: 1.5 }, 'malformed ticketRequests job: bad round'],
    ['a vote without a signature', 'votes', { kind: 'vote', vote: { ...VOTE, signature: undefined } }, 'malformed votes job: bad vote'],
    ['a vote with a non-boolean ok', 'votes', { kind: 'vote', vote: { ...VOTE, ok: 'yes' } }, 'malformed votes job: bad vote'],
    ['a deadline job (deadlines live in the due-time index, never in a queue)', 'votes', { kind: 'deadline', requestId: 'req_1' }, 'malformed votes job: unknown kind'],
    ['logs that are not strings', 'votes', { kind: 'vote', vote: VOTE, logs: [1] }, 'malformed votes job: bad logs'],
    ['a short beta', 'tickets', { kind: 'ticket', nodeId: 'node_1', round: 4, beta: 'ab', proof: 'd'.repeat(160) }, 'malformed tickets job: bad beta'],
  ];
  for (const [name, queue, data, message] of bad) it(`refuses ${name}`, () => expect(refusal(queue, data)).to.equal(message));
});
