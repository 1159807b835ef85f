// Consensus's foresight of a request's votes: the store's answer, then the records sent since, in order.
import { expect } from 'chai';
import type { VoteRecording } from '../../lib/repository/requests.ts';
import type { StoredVote } from '../../lib/repository/types.ts';
import { createVoteForesight } from '../../lib/roles/consensus/vote-foresight.ts';

const vote = (nodeId: string, value: unknown = 7): Omit<StoredVote, 'seq'> => ({ nodeId, round: 2, ok: true, resultHash: '11'.repeat(32), value, signature: '33'.repeat(64) });
const recording = (outcome: VoteRecording['outcome'], nodeIds: string[], extra: Partial<VoteRecording> = {}): VoteRecording => ({
  outcome, status: 'assigned', isAgain: false, votes: nodeIds.map((id, seq) => ({ ...vote(id), seq, logs: ['a line'] })), votesLength: 300 * nodeIds.length, ...extra,
});
const ids = (votes: StoredVote[] | undefined) => votes?.map((v) => `${v.nodeId}@${v.seq}`);

describe('vote foresight', () => {
  it('foresees the records sent in order, each after the ones before it, and a node once', () => {
    const foresight = createVoteForesight({ maxRequests: 10, maxBytes: 1 << 20 });
    expect(ids(foresight.sending('req_1', vote('a'), 1))).to.deep.equal(['a@0']);
    expect(ids(foresight.sending('req_1', vote('b'), 1))).to.deep.equal(['a@0', 'b@1']);
    // The same node again (a redelivery) foresees nothing.
    expect(foresight.sending('req_1', vote('a'), 1)).to.equal(undefined);
    // Other requests are apart.
    expect(ids(foresight.sending('req_2', vote('c'), 1))).to.deep.equal(['c@0']);
  });

  it('takes the store\'s answer, then the records sent since that it does not hold yet, numbered after it', () => {
    const foresight = createVoteForesight({ maxRequests: 10, maxBytes: 1 << 20 });
    foresight.sending('req_1', vote('a'), 1);
    foresight.sending('req_1', vote('b'), 1);
    // a's record found x stored before it (another consensus process): b now follows both.
    foresight.recorded('req_1', recording('recorded', ['x', 'a']));
    const next = foresight.sending('req_1', vote('c'), 1);
    expect(ids(next)).to.deep.equal(['x@0', 'a@1', 'b@2', 'c@3']);
    expect(next!.every((v) => v.logs === undefined), 'no logs kept').to.equal(true);
  });

  it('forgets a request whose voting closed (a late or duplicate record, an agreement in the record) or that is dropped', () => {
    for (const closing of [recording('late', ['a']), recording('duplicate', ['a']), recording('recorded', ['a'], { agreement: { applied: true, statusBefore: 'assigned' } })]) {
      const foresight = createVoteForesight({ maxRequests: 10, maxBytes: 1 << 20 });
      foresight.sending('req_1', vote('a'), 1);
      foresight.recorded('req_1', closing);
      expect(ids(foresight.sending('req_1', vote('b'), 1)), closing.outcome).to.deep.equal(['b@0']);
    }
    const foresight = createVoteForesight({ maxRequests: 10, maxBytes: 1 << 20 });
    foresight.sending('req_1', vote('a'), 1);
    foresight.forget('req_1');
    expect(ids(foresight.sending('req_1', vote('b'), 1))).to.deep.equal(['b@0']);
  });

  it('keeps the newest requests only, and no request whose votes weigh more than a sixteenth of the bound', () => {
    const foresight = createVoteForesight({ maxRequests: 2, maxBytes: 16 * 4096 });
    foresight.sending('req_1', vote('a'), 1);
    foresight.sending('req_2', vote('a'), 1);
    foresight.sending('req_3', vote('a'), 1);
    expect(ids(foresight.sending('req_1', vote('b'), 1)), 'pushed out: starts again').to.deep.equal(['b@0']);
    expect(ids(foresight.sending('req_3', vote('b'), 1))).to.deep.equal(['a@0', 'b@1']);
    // A value of 4,000 bytes with a vote's fixed fields passes 4,096: not kept, nothing foreseen.
    expect(foresight.sending('req_4', vote('a', 'x'.repeat(4000)), 4002)).to.equal(undefined);
    expect(ids(foresight.sending('req_4', vote('b'), 1))).to.deep.equal(['b@0']);
  });
});
