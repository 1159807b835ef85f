// The repository's guarded writes on a real redis-server: idempotent request creation, redelivered
// transitions, duplicate votes, late tickets, the ledger appended once per request (also against a
// second writer), lease takeover, and node registration, removal as a tombstone and re-admission.
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { GENESIS_PREV_HASH, verifyLedgerEntries } from '../../lib/protocol/ledger.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { createRepository, type Repository } from '../../lib/repository/index.ts';
import { createKeys } from '../../lib/repository/keys.ts';
import type { AppendFields } from '../../lib/repository/ledger.ts';
import type { VoteRecording } from '../../lib/repository/requests.ts';
import type { Assignment, LedgerEntry, NodeRecord, Outcome, Project } from '../../lib/repository/types.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import { buildNode } from '../support/builders.ts';
import { startTestRedis, uniquePrefix, type TestRedis } from '../support/redis.ts';

const T0 = 1_700_000_000_000;
const LIMITS = { timeoutMs: 2000, cpuMs: 1000, memoryMb: 32, fetchCalls: 0, outputBytes: 65536, logLines: 20, logBytes: 4096 };
const PROJECT: Project = {
  id: 'prj_0000000000repositorytest0', name: 'repository', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
  limits: LIMITS, version: 1, codeCid: 'bafkreirepository', createdAt: new Date(T0).toISOString(),
};
const ASSIGNMENT: Assignment = { round: 2, roundSeed: '00'.repeat(32), committee: ['node_a', 'node_b', 'node_c'], quorum: 2, aggregation: 'exact', assignedAt: new Date(T0).toISOString() };
const OUTCOME: Outcome = { ok: true, value: 42, resultHash: '11'.repeat(32), supporters: ['node_a', 'node_b'], agreedAt: new Date(T0).toISOString() };
const VOTE = { nodeId: 'node_a', round: 2, ok: true, resultHash: '11'.repeat(32), value: 42, signature: '33'.repeat(64) };

/** The fields of a ledger entry for request `id` (what the sender appends). */
const ledgerFields = (id: string): AppendFields => ({ requestId: id, projectId: PROJECT.id, codeCid: 'bafkreiexample', inputHash: 'ef'.repeat(32), createdAt: '2026-01-01T00:00:00.000Z', round: 2, k: 3, q: 2, aggregation: 'exact' as const, resultHash: 'ab'.repeat(32), ok: true, votesDigest: 'cd'.repeat(32) });

describe('repository', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  let prefix: string;
  let connections: Redis[];
  let repository: Repository;
  let counter = 0;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    prefix = uniquePrefix();
    connections = [];
    repository = openRepository();
    await repository.putProject(PROJECT, 'export default (input) => input', 'hash-repository', T0);
  });
  afterEach(async () => {
    for (const connection of connections) await closeRedis(connection);
  });

  /** Another repository on the same keys over a connection of its own (as another process would be). */
  function openRepository(): Repository {
    const connection = createRedis(redis.url, 'repository-test');
    connections.push(connection);
    return createRepository(connection, { prefix });
  }

  const nextId = () => `req_0000000000repository${String(++counter).padStart(6, '0')}`;
  const raw = () => connections[0]!;
  const keys = () => createKeys(prefix);

  async function createRequest(id = nextId(), idempotencyKey?: string) {
    return repository.putRequest({ id, projectId: PROJECT.id, version: 1, codeCid: PROJECT.codeCid, source: 'api', input: { n: 1 }, createdAtMs: T0, maxOpen: 100, ...(idempotencyKey ? { idempotencyKey } : {}) });
  }

  /** Every ledger entry, checked as `GET /v1/ledger/verify?full=true` checks it; also the head key. */
  async function readLedger() {
    const { items, nextCursor } = await repository.listLedger(0, 1000);
    expect(nextCursor).to.equal(null);
    const check = verifyLedgerEntries(items);
    expect(check, 'the ledger verifies').to.deep.include({ ok: true, length: items.length });
    expect(await repository.getLedgerHead()).to.deep.equal({ length: items.length, head: check.head });
    expect(await repository.getLedgerLength()).to.equal(items.length);
    return items;
  }

  describe('requests', () => {
    it('creates a request once per idempotency key, also when both arrive at once', async () => {
      const [first, second] = [nextId(), nextId()];
      const replies = await Promise.all([createRequest(first, 'key-1'), createRequest(second, 'key-1')]);
      expect(replies).to.deep.equal([{ outcome: 'created', id: first }, { outcome: 'existing', id: first }]);
      expect(await createRequest(nextId(), 'key-1')).to.deep.equal({ outcome: 'existing', id: first });
      expect(await repository.getRequest(second)).to.equal(null);
      expect((await repository.listProjectRequests(PROJECT.id, 10)).items.map((r) => r.id)).to.deep.equal([first]);
      expect(await repository.countOpenRequests(PROJECT.id)).to.equal(1);
      expect(await repository.countQueued()).to.equal(1);
    });

    it('applies each transition once: a redelivered one changes nothing and says where the request is', async () => {
      const id = nextId();
      await createRequest(id);
      expect(await repository.assignRequest(id, ASSIGNMENT, T0 + 1)).to.deep.equal({ applied: true, statusBefore: 'queued' });
      expect(await repository.assignRequest(id, { ...ASSIGNMENT, round: 9 }, T0 + 2)).to.deep.equal({ applied: false, statusBefore: 'assigned' });
      expect(await repository.agreeRequest(id, OUTCOME, T0 + 3)).to.deep.equal({ applied: true, statusBefore: 'assigned' });
      expect(await repository.agreeRequest(id, { ...OUTCOME, value: 7 }, T0 + 4)).to.deep.equal({ applied: false, statusBefore: 'agreed' });
      expect(await repository.publishRequest(id, { seq: 1, hash: '22'.repeat(32) }, T0 + 5)).to.deep.equal({ applied: true, statusBefore: 'agreed' });
      expect(await repository.publishRequest(id, { seq: 2, hash: '44'.repeat(32) }, T0 + 6)).to.deep.equal({ applied: false, statusBefore: 'published' });
      expect(await repository.failRequest(id, ['queued', 'assigned'], { code: 'timeout', message: 'late' }, T0 + 7)).to.deep.equal({ applied: false, statusBefore: 'published' });
      const stored = await repository.getRequest(id);
      expect(stored).to.deep.include({ status: 'published', assignment: ASSIGNMENT, outcome: OUTCOME, ledger: { seq: 1, hash: '22'.repeat(32) }, failure: undefined });
      // The record without its votes is the same record, votes left out.
      const { votes: _votes, ...state } = stored!;
      expect(await repository.getRequestState(id)).to.deep.equal(state);
      expect(await repository.getRequestState(nextId())).to.equal(null);
      // The admission slot came back once, not once per delivery.
      expect(await repository.countOpenRequests(PROJECT.id)).to.equal(0);
      expect(await repository.countFinishedSince(T0)).to.equal(1);
    });

    it('assigns from what the caller expects only while the record has that project and acceptance time', async () => {
      const id = nextId();
      await createRequest(id);
      // Another project whose id begins with this one's, a time 1 ms off, neither: not applied, nothing written.
      for (const expected of [{ projectId: 'prj_0000000000otherprojectxx', acceptedAtMs: T0 }, { projectId: PROJECT.id.slice(0, -1), acceptedAtMs: T0 }, { projectId: PROJECT.id, acceptedAtMs: T0 - 1 }]) {
        expect(await repository.assignRequest(id, ASSIGNMENT, T0 + 1, T0 + 30_000, expected), JSON.stringify(expected)).to.deep.equal({ applied: false, statusBefore: 'queued' });
      }
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([]);
      expect(await repository.assignRequest(id, ASSIGNMENT, T0 + 1, T0 + 30_000, { projectId: PROJECT.id, acceptedAtMs: T0 })).to.deep.equal({ applied: true, statusBefore: 'queued' });
      expect((await repository.getRequestState(id))?.assignment).to.deep.equal(ASSIGNMENT);
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([{ kind: 'deadline', requestId: id, dueAtMs: T0 + 30_000 }]);
      // Once assigned, the same expectation no longer matches a queued request.
      expect(await repository.assignRequest(id, ASSIGNMENT, T0 + 2, T0 + 30_000, { projectId: PROJECT.id, acceptedAtMs: T0 })).to.deep.equal({ applied: false, statusBefore: 'assigned' });
    });

    it('records a vote once per node, counted while assigned and kept as late once the request left the voting status', async () => {
      const id = nextId();
      await createRequest(id);
      expect((await repository.recordVote(id, VOTE)).outcome).to.equal('not_assigned');
      await repository.assignRequest(id, ASSIGNMENT, T0 + 1);
      const first = await repository.recordVote(id, VOTE);
      expect(first).to.deep.include({ outcome: 'recorded', status: 'assigned' });
      const again = await repository.recordVote(id, { ...VOTE, value: 43, resultHash: '55'.repeat(32) });
      expect(again.outcome).to.equal('duplicate');
      expect(again.votes).to.deep.equal([{ ...VOTE, seq: 0 }]);
      // The same vote again (re-sent after a lost reply) is reported as recorded, and counted once.
      expect(await repository.recordVote(id, VOTE)).to.deep.include({ outcome: 'recorded', votes: [{ ...VOTE, seq: 0 }] });
      expect((await repository.listNodeStats([VOTE.nodeId]))[0]).to.deep.include({ votes: 1 });
      await repository.agreeRequest(id, OUTCOME, T0 + 2);
      expect(await repository.recordVote(id, { ...VOTE, nodeId: 'node_b' })).to.deep.include({ outcome: 'late', status: 'agreed' });
      expect((await repository.getRequest(id))!.votes).to.deep.equal([{ ...VOTE, seq: 0 }, { ...VOTE, nodeId: 'node_b', seq: 1, late: true }]);
      expect((await repository.recordVote(nextId(), VOTE)).outcome).to.equal('missing');
    });

    it('applies an agreement with the record of the deciding vote only after exactly the votes the caller named, in their order', async () => {
      const id = nextId();
      await createRequest(id);
      await repository.assignRequest(id, ASSIGNMENT, T0 + 1, T0 + 30_000);
      const head = (nodeId: string, seq: number, resultHash = VOTE.resultHash) => ({ nodeId, round: VOTE.round, ok: VOTE.ok, resultHash, seq });
      const agreement = (priorVotes: ReturnType<typeof head>[]) => ({
        priorVotes, outcome: OUTCOME, nowMs: T0 + 2, settle: { voteCount: priorVotes.length + 1, counts: { node_a: { agreed: 1 }, node_b: { agreed: 1 }, node_c: { missed: 1 } } },
      });
      const refused = async (nodeId: string, priorVotes: ReturnType<typeof head>[], expected: Partial<VoteRecording>) => {
        const recording = await repository.recordVote(id, { ...VOTE, nodeId }, agreement(priorVotes));
        expect(recording, JSON.stringify(priorVotes)).to.deep.include(expected);
        expect(recording, JSON.stringify(priorVotes)).to.not.have.property('agreement');
        expect((await repository.getRequestState(id))?.status).to.equal('assigned');
        return recording;
      };
      // node_b votes for another result than the one foreseen: its head differs.
      expect((await repository.recordVote(id, VOTE)).outcome).to.equal('recorded');
      expect((await repository.recordVote(id, { ...VOTE, nodeId: 'node_b', resultHash: '22'.repeat(32) })).outcome).to.equal('recorded');
      // None named (two are stored), one missing, a node that never voted, node_b's other result, the right votes out of order: recorded, nothing agreed.
      const unnamed = await refused('node_c', [], { outcome: 'recorded', status: 'assigned', isAgain: false });
      expect(unnamed.votes.map((v) => v.nodeId)).to.deep.equal(['node_a', 'node_b', 'node_c']);
      await refused('node_d', [head('node_a', 0), head('node_b', 1, '22'.repeat(32))], { outcome: 'recorded' });
      await refused('node_e', [head('node_a', 0), head('node_b', 1, '22'.repeat(32)), head('node_c', 2), head('node_x', 3)], { outcome: 'recorded' });
      await refused('node_f', [head('node_a', 0), head('node_b', 1), head('node_c', 2), head('node_d', 3), head('node_e', 4)], { outcome: 'recorded' });
      const inOrder = [head('node_a', 0), head('node_b', 1, '22'.repeat(32)), head('node_c', 2), head('node_d', 3), head('node_e', 4), head('node_f', 5)];
      await refused('node_g', [inOrder[1], inOrder[0], ...inOrder.slice(2)].map((h, i) => ({ ...h, seq: i })), { outcome: 'recorded' });
      // node_g's vote again, even naming the votes before it exactly: a vote stored before runs no transition.
      await refused('node_g', inOrder, { outcome: 'recorded', isAgain: true });
      // Exactly the seven stored votes named, in order: the eighth vote's record agrees and settles in the same step.
      const all = [...inOrder, head('node_g', 6)];
      const deciding = await repository.recordVote(id, { ...VOTE, nodeId: 'node_h' }, agreement(all));
      expect(deciding).to.deep.include({ outcome: 'recorded', status: 'assigned', isAgain: false, agreement: { applied: true, statusBefore: 'assigned', isSettled: true } });
      expect(deciding.votes.map((v) => [v.nodeId, v.seq])).to.deep.equal([...all, head('node_h', 7)].map((h) => [h.nodeId, h.seq]));
      expect(await repository.getRequestState(id)).to.deep.include({ status: 'agreed', outcome: OUTCOME });
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([]);
      expect((await repository.listNodeStats(['node_a', 'node_b', 'node_c'])).map((s) => [s.votes, s.agreed, s.missed])).to.deep.equal([[1, 1, 0], [1, 1, 0], [1, 0, 1]]);
      // Voting closed: a later vote is late, and no agreement runs again.
      const late = await repository.recordVote(id, { ...VOTE, nodeId: 'node_i' }, agreement([...all, head('node_h', 7)]));
      expect(late).to.deep.include({ outcome: 'late', status: 'agreed' });
      expect(late).to.not.have.property('agreement');
      // A request that does not exist: its answer as RECORD_VOTE's.
      expect(await repository.recordVote(nextId(), VOTE, agreement([]))).to.deep.include({ outcome: 'missing', isAgain: false, votes: [] });
    });

    it('finds a node\'s vote stored with its fields in another order (the write is guarded, not only the scan)', async () => {
      const id = nextId();
      await createRequest(id);
      await repository.assignRequest(id, ASSIGNMENT, T0 + 1);
      // A vote text whose node id is not its first field: the script's scan by opening misses it.
      const { nodeId, ...rest } = VOTE;
      await raw().hset(keys().requestVotes(id), nodeId, JSON.stringify({ ...rest, nodeId, seq: 0 }));
      const other = await repository.recordVote(id, { ...VOTE, value: 43 });
      expect(other.outcome).to.equal('duplicate');
      expect(other.votes).to.have.length(1);
      expect((await repository.listNodeStats([nodeId]))[0]).to.deep.include({ votes: 0 });
    });

    it('keeps each open request in exactly the index of its status, and writes the deadline with the assignment', async () => {
      const id = nextId();
      await createRequest(id);
      const b = keys().bucketOf(id);
      const indexed = async () => {
        const found: string[] = [];
        for (const status of ['queued', 'assigned', 'agreed'] as const) if ((await raw().zscore(keys().stateIndex(b, status), id)) !== null) found.push(status);
        return found;
      };
      expect(await indexed()).to.deep.equal(['queued']);
      // A deadline written before (a redispatch's) keeps its time; a move not applied writes none.
      await repository.putDueEntry({ kind: 'deadline', requestId: id, dueAtMs: T0 + 500 });
      expect(await repository.assignRequest(id, ASSIGNMENT, T0 + 1, T0 + 30_000)).to.deep.equal({ applied: true, statusBefore: 'queued' });
      expect(await indexed()).to.deep.equal(['assigned']);
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([{ kind: 'deadline', requestId: id, dueAtMs: T0 + 500 }]);
      const second = nextId();
      await createRequest(second);
      await repository.assignRequest(second, ASSIGNMENT, T0 + 1, T0 + 30_000);
      expect(await repository.assignRequest(second, ASSIGNMENT, T0 + 2, T0 + 40_000)).to.deep.equal({ applied: false, statusBefore: 'assigned' });
      expect((await repository.listDueEntries(T0 + 60_000, 10)).map((e) => [e.requestId, e.dueAtMs])).to.deep.equal([[id, T0 + 500], [second, T0 + 30_000]]);
      await repository.agreeRequest(id, OUTCOME, T0 + 3);
      expect(await indexed()).to.deep.equal(['agreed']);
      await repository.publishRequest(id, { seq: 1, hash: '22'.repeat(32) }, T0 + 4);
      expect(await indexed()).to.deep.equal([]);
      // Settling removes the due entries and adds the node statistics once, however often it runs.
      await repository.putDueEntry({ kind: 'grace', requestId: second, dueAtMs: T0 + 700 });
      const counts = { node_a: { agreed: 1 }, node_b: { missed: 1 } };
      expect(await repository.settleRequest(second, counts)).to.equal(true);
      expect(await repository.settleRequest(second, counts)).to.equal(false);
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([{ kind: 'deadline', requestId: id, dueAtMs: T0 + 500 }]);
      expect(await repository.listNodeStats(['node_a', 'node_b'])).to.deep.equal([
        { votes: 0, agreed: 1, disagreed: 0, late: 0, missed: 0 },
        { votes: 0, agreed: 0, disagreed: 0, late: 0, missed: 1 },
      ]);
      // Never assigned: only the due entries go.
      expect(await repository.settleRequest(id, null)).to.equal(false);
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([]);
    });

    it('accepts a request in one script call on one Redis: admitted and stored together', async () => {
      await raw().config('RESETSTAT');
      const id = nextId();
      expect(await createRequest(id)).to.deep.equal({ outcome: 'created', id });
      const stats = await raw().info('commandstats');
      expect(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1]).to.equal('1');
      expect((await repository.getRequest(id))?.status).to.equal('queued');
      expect(await repository.countOpenRequests(PROJECT.id)).to.equal(1);
    });

    it('keeps the newest 200 requests in the recent list, trimmed back now and then (a few more between)', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 400; i++) {
        const id = nextId();
        ids.push(id);
        await repository.putRequest({ id, projectId: PROJECT.id, version: 1, codeCid: PROJECT.codeCid, source: 'api', input: null, createdAtMs: T0 + i, maxOpen: 1000 });
      }
      // Trimmed on about one store in eight: over the last 200 stores, left untrimmed with a chance of (7/8)^200.
      const kept = await raw().zcard(keys().recentRequests(0));
      expect(kept).to.be.within(200, 399);
      expect(await repository.listRecentRequestIds(200)).to.deep.equal(ids.slice(-200).reverse());
    });

    it('settles a request with the move that closes its voting while it holds exactly the votes counted from, once, and otherwise gives back the votes', async () => {
      const stats = () => repository.listNodeStats(['node_a', 'node_b', 'node_c']);
      const vote = (nodeId: string) => ({ ...VOTE, nodeId });
      const counts = { node_a: { agreed: 1 }, node_b: { agreed: 1 }, node_c: { missed: 1 } };
      // Two votes counted, and the closing move finds those two: settled with it, its deadline gone, no votes sent back.
      const id = nextId();
      await createRequest(id);
      await repository.assignRequest(id, ASSIGNMENT, T0 + 1, T0 + 30_000);
      for (const nodeId of ['node_a', 'node_b']) await repository.recordVote(id, vote(nodeId));
      expect(await repository.agreeRequest(id, OUTCOME, T0 + 2, { withVotes: true, settle: { voteCount: 2, counts } }))
        .to.deep.equal({ applied: true, statusBefore: 'assigned', isSettled: true });
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([]);
      expect(await repository.settleRequest(id, counts)).to.equal(false);
      expect(await stats()).to.deep.equal([
        { votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 0 },
        { votes: 1, agreed: 1, disagreed: 0, late: 0, missed: 0 },
        { votes: 0, agreed: 0, disagreed: 0, late: 0, missed: 1 },
      ]);
      // A third vote came in after the decision: the move applies, settles nothing and gives back the three votes.
      const other = nextId();
      await createRequest(other);
      await repository.assignRequest(other, ASSIGNMENT, T0 + 1, T0 + 30_000);
      for (const nodeId of ['node_a', 'node_b', 'node_c']) await repository.recordVote(other, vote(nodeId));
      const moved = await repository.failRequest(other, ['assigned'], { code: 'no_quorum', message: 'm' }, T0 + 3, { withVotes: true, settle: { voteCount: 2, counts: { node_c: { missed: 1 } } } });
      expect([moved.applied, moved.isSettled, moved.votes?.map((v) => v.nodeId)]).to.deep.equal([true, undefined, ['node_a', 'node_b', 'node_c']]);
      expect((await repository.listDueEntries(T0 + 60_000, 10)).map((e) => e.requestId)).to.deep.equal([other]);
      expect((await stats())[2]).to.deep.equal({ votes: 1, agreed: 0, disagreed: 0, late: 0, missed: 1 });
      // The caller settles from the votes given back.
      expect(await repository.settleRequest(other, { node_a: { disagreed: 1 } })).to.equal(true);
      expect(await repository.listDueEntries(T0 + 60_000, 10)).to.deep.equal([]);
      expect((await stats())[0]).to.deep.equal({ votes: 2, agreed: 1, disagreed: 1, late: 0, missed: 0 });
    });
  });

  describe('rounds', () => {
    const round = (n: number) => ({ round: n, seed: String(n).padStart(64, '0'), proof: 'ff'.repeat(80), startedAt: new Date(T0 + n).toISOString(), ticketsRoot: 'aa'.repeat(32), ledgerLength: 0, ledgerHead: '0'.repeat(64) });
    const ticket = (nodeId: string) => ({ nodeId, beta: 'be'.repeat(64), proof: 'ef'.repeat(80) });

    it('starts each round once and refuses a ticket after its round froze', async () => {
      expect(await repository.startRound(round(1))).to.equal(true);
      // Another scheduler's start of the same round is refused; the same start again (re-sent) is not.
      expect(await repository.startRound({ ...round(1), startedAt: new Date(T0 + 50).toISOString() })).to.equal(false);
      expect(await repository.startRound(round(1))).to.equal(true);
      expect(await repository.getLatestRoundNumber()).to.equal(1);
      expect(await repository.putTicket(1, ticket('node_a'))).to.equal('stored');
      expect(await repository.putTicket(1, ticket('node_a'))).to.equal('stored');
      expect(await repository.putTicket(1, { ...ticket('node_a'), beta: '00'.repeat(64) })).to.equal('duplicate');
      expect(await repository.startRound(round(2))).to.equal(true);
      expect((await repository.getRound(1))!.frozen).to.equal(true);
      expect(await repository.putTicket(1, ticket('node_b'))).to.equal('late');
      expect(await repository.putTicket(3, ticket('node_b'))).to.equal('no_round');
      expect(await repository.listTickets(1)).to.deep.equal([ticket('node_a')]);
      expect(await repository.getLatestRoundNumber()).to.equal(2);
    });
  });

  describe('ledger', () => {
    it('appends a request once, whether it comes twice in one batch, in two batches or later again', async () => {
      const [a, b, c] = [nextId(), nextId(), nextId()];
      // The first append is written alone; the four behind it go together in the next batch.
      const entries = await Promise.all([a, a, b, b, c].map((id) => repository.appendLedger(ledgerFields(id))));
      expect(entries[1]).to.deep.equal(entries[0]);
      expect(entries[3]).to.deep.equal(entries[2]);
      expect(entries.map((e) => e.seq)).to.deep.equal([1, 1, 2, 2, 3]);
      expect(entries[0].prevHash).to.equal(GENESIS_PREV_HASH);
      expect(await repository.appendLedger({ ...ledgerFields(b), ok: false })).to.deep.equal(entries[2]);
      const ledger = await readLedger();
      expect(ledger.map((e) => e.requestId)).to.deep.equal([a, b, c]);
      expect(ledger).to.deep.equal([entries[0], entries[2], entries[4]]);
    });

    it('rechains an append whose head another writer moved, and keeps its entry for a request it already appended', async () => {
      const other = openRepository();
      const [a, b, c] = [nextId(), nextId(), nextId()];
      const first = await repository.appendLedger(ledgerFields(a));
      // The other writer appends after this one last saw the head: this one's next append conflicts once.
      const second = await other.appendLedger(ledgerFields(b));
      const third = await repository.appendLedger(ledgerFields(c));
      expect([first.seq, second.seq, third.seq]).to.deep.equal([1, 2, 3]);
      expect(third.prevHash).to.equal(second.hash);
      // A request the other writer appended comes back as stored, not appended again.
      expect(await repository.appendLedger(ledgerFields(b))).to.deep.equal(second);
      expect((await readLedger()).map((e) => e.requestId)).to.deep.equal([a, b, c]);
    });

    it('keeps one chain and one entry per request when two writers append the same requests at once', async () => {
      const other = openRepository();
      await other.getLedgerHead();
      const ids = Array.from({ length: 90 }, () => nextId());
      // Each writer starts with a request of its own, so their first batches race on the head; the
      // other writer takes the shared requests in reverse order.
      const [mine, theirs] = await Promise.all([
        Promise.all(ids.slice(0, 60).map((id) => repository.appendLedger(ledgerFields(id)))),
        Promise.all(ids.slice(30).reverse().map((id) => other.appendLedger(ledgerFields(id)))),
      ]);
      theirs.reverse();
      // Both writers give back the same entry for a request they both appended.
      expect(mine.slice(30)).to.deep.equal(theirs.slice(0, 30));
      const ledger = await readLedger();
      expect(ledger).to.have.length(90);
      expect(new Set(ledger.map((e) => e.requestId)).size).to.equal(90);
      const byRequest = (x: LedgerEntry, y: LedgerEntry) => x.requestId.localeCompare(y.requestId);
      expect([...ledger].sort(byRequest)).to.deep.equal([...mine, ...theirs.slice(30)].sort(byRequest));
    });
  });

  describe('ledger publication', () => {
    /** A request moved to `agreed`, as consensus leaves it for the sender. */
    async function createAgreed(): Promise<string> {
      const id = nextId();
      await createRequest(id);
      await repository.assignRequest(id, ASSIGNMENT, T0 + 1);
      await repository.agreeRequest(id, OUTCOME, T0 + 2);
      return id;
    }
    /** The script calls Redis runs while `run` runs, by what their keys show they are. */
    async function scriptCallsDuring(run: () => Promise<unknown>): Promise<Record<string, number>> {
      const connection = createRedis(redis.url, 'repository-monitor');
      connections.push(connection);
      const monitor = await connection.monitor();
      const calls: Record<string, number> = {};
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (!/^eval/i.test(args[0] ?? '')) return;
        const keys = args.slice(3, 3 + Number(args[2]));
        const kind = keys.some((k) => k.endsWith(':ledger:by-request'))
          ? (keys.some((k) => k.endsWith(':finished')) ? 'append and publish' : 'append')
          : keys.some((k) => k.endsWith(':finished')) ? 'transition' : 'other';
        calls[kind] = (calls[kind] ?? 0) + 1;
      });
      try {
        await run();
        // The feed is in execution order: once it shows a command sent after the run's, it showed them all.
        const marker = `end-of-run-${nextId()}`;
        const isPast = new Promise<void>((resolve) => monitor.on('monitor', (_time: string, args: string[]) => args[1] === marker && resolve()));
        await connections[0]!.echo(marker);
        await isPast;
        return calls;
      } finally {
        monitor.disconnect();
      }
    }

    it('appends and publishes in one script call per batch, each request once, whether it comes twice in one batch or later again', async () => {
      const [a, b, c] = [await createAgreed(), await createAgreed(), await createAgreed()];
      await repository.publishToLedger(ledgerFields(await createAgreed()), T0 + 5);
      let published: Awaited<ReturnType<Repository['publishToLedger']>>[] = [];
      // The first publication is written alone; the four behind it go together in the next batch.
      const calls = await scriptCallsDuring(async () => {
        published = await Promise.all([a, a, b, b, c].map((id, i) => repository.publishToLedger(ledgerFields(id), T0 + 10 + i)));
      });
      expect(published.map(({ entry, ...result }) => [entry.seq, result])).to.deep.equal([
        [2, { applied: true, statusBefore: 'agreed' }],
        [2, { applied: false, statusBefore: 'published' }],
        [3, { applied: true, statusBefore: 'agreed' }],
        [3, { applied: false, statusBefore: 'published' }],
        [4, { applied: true, statusBefore: 'agreed' }],
      ]);
      // One append-and-publish call for the first batch, two for the second (a was appended already:
      // a conflict, then b and c), and two transitions alone: a's in the second batch, and the second
      // b's. The rest are releases of admission slots; no append alone.
      expect(calls).to.deep.include({ 'append and publish': 3, transition: 2 });
      expect(calls).not.to.have.property('append');
      expect(published[1]!.entry).to.deep.equal(published[0]!.entry);
      const ledger = await readLedger();
      expect(ledger.slice(1).map((e) => e.requestId)).to.deep.equal([a, b, c]);
      for (const [id, at] of [[a, 0], [b, 2], [c, 4]] as const) {
        expect(await repository.getRequest(id)).to.deep.include({ status: 'published', ledger: { seq: published[at]!.entry.seq, hash: published[at]!.entry.hash }, finishedAt: new Date(T0 + 10 + at).toISOString() });
      }
      // Every publication gave back its admission slot.
      expect(await repository.countOpenRequests(PROJECT.id)).to.equal(0);
      // A publication of a request published before finds its entry and changes nothing.
      expect(await repository.publishToLedger({ ...ledgerFields(b), ok: false }, T0 + 99)).to.deep.equal({ entry: published[2]!.entry, applied: false, statusBefore: 'published' });
      expect(await readLedger()).to.have.length(4);
    });

    it('rechains a publication whose head another writer moved', async () => {
      const other = openRepository();
      const [a, b, c] = [await createAgreed(), await createAgreed(), await createAgreed()];
      await repository.publishToLedger(ledgerFields(a), T0 + 5);
      // The other writer appends after this one last saw the head: the next publication conflicts once.
      const second = await other.publishToLedger(ledgerFields(b), T0 + 6);
      const third = await repository.publishToLedger(ledgerFields(c), T0 + 7);
      expect([second.entry.seq, third.entry.seq, third.entry.prevHash]).to.deep.equal([2, 3, second.entry.hash]);
      expect(third).to.deep.include({ applied: true, statusBefore: 'agreed' });
      expect((await readLedger()).map((e) => e.requestId)).to.deep.equal([a, b, c]);
      expect((await repository.getRequest(c))!.ledger).to.deep.equal({ seq: 3, hash: third.entry.hash });
    });

    it('appends the entry of a request that is not agreed, and leaves its status as the transition guard finds it', async () => {
      const id = nextId();
      await createRequest(id);
      await repository.assignRequest(id, ASSIGNMENT, T0 + 1);
      const { entry, ...result } = await repository.publishToLedger(ledgerFields(id), T0 + 5);
      expect(result).to.deep.equal({ applied: false, statusBefore: 'assigned' });
      expect(entry.seq).to.equal(1);
      expect(await repository.getRequest(id)).to.deep.include({ status: 'assigned', ledger: undefined });
    });
  });

  describe('leases', () => {
    it('lets no second owner take a held lease until its TTL ran out', async () => {
      const a = repository.openLease('scheduler', 'owner-a', 300);
      const b = openRepository().openLease('scheduler', 'owner-b', 300);
      expect(await a.renew()).to.equal(true);
      expect(await b.renew()).to.equal(false);
      expect(b.isHeld()).to.equal(false);
      expect(await a.renew()).to.equal(true);
      // Releasing is the holder's: b's release leaves a's lease alone.
      await b.release();
      expect(await b.renew()).to.equal(false);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(a.isHeld()).to.equal(false);
      expect(await b.renew()).to.equal(true);
      expect(await a.renew()).to.equal(false);
      await b.release();
      expect(await a.renew()).to.equal(true);
    });
  });

  describe('nodes', () => {
    const node = (index: number, overrides: Partial<NodeRecord> = {}): NodeRecord => ({ ...createNodeRecord(buildNode(index).keys, `node-${index}`, T0), ...overrides });

    it('registers a node once; it keeps its keys, and a new name comes with a new registration', async () => {
      const first = node(1);
      expect(await repository.putNode(first)).to.deep.equal({ node: first, outcome: 'created' });
      expect(await repository.putNode({ ...first, createdAt: new Date(T0 + 5).toISOString() })).to.deep.equal({ node: first, outcome: 'unchanged' });
      const otherKeys = { ...first, vrfPublicKey: node(2).vrfPublicKey };
      expect(await repository.putNode(otherKeys)).to.deep.equal({ node: first, outcome: 'conflict' });
      const renamed = { ...first, name: 'renamed', registration: createNodeRecord(buildNode(1).keys, 'renamed', T0).registration };
      expect(await repository.putNode({ ...renamed, createdAt: new Date(T0 + 7).toISOString() })).to.deep.equal({ node: renamed, outcome: 'updated' });
      expect(await repository.listNodes()).to.deep.equal([renamed]);
    });

    it('keeps a removed node a tombstone that only readmitNode lifts', async () => {
      const first = node(3);
      await repository.putNode(first);
      expect(await repository.removeNode(first.id)).to.equal(true);
      const removed = { ...first, status: 'removed' as const };
      expect(await repository.putNode({ ...first, name: 'thief', vrfPublicKey: node(4).vrfPublicKey })).to.deep.equal({ node: removed, outcome: 'removed' });
      // The same keys and registration do not revive it either.
      expect(await repository.putNode({ ...first, createdAt: new Date(T0 + 9).toISOString() })).to.deep.equal({ node: removed, outcome: 'removed' });
      expect(await repository.getNode(first.id)).to.deep.equal(removed);
      expect(await repository.readmitNode(first.id)).to.deep.equal({ node: first, outcome: 'readmitted' });
      expect(await repository.readmitNode(first.id)).to.deep.equal({ node: first, outcome: 'active' });
      expect(await repository.getNode(first.id)).to.deep.equal(first);
      expect(await repository.readmitNode(node(7).id)).to.equal(null);
    });

    it('removes a node idempotently and reports an unknown one', async () => {
      const first = node(5);
      await repository.putNode(first);
      expect(await repository.removeNode(first.id)).to.equal(true);
      expect(await repository.removeNode(first.id)).to.equal(true);
      expect(await repository.getNode(first.id)).to.deep.equal({ ...first, status: 'removed' });
      expect(await repository.removeNode(node(6).id)).to.equal(false);
      expect(await repository.getNode(node(6).id)).to.equal(null);
    });
  });
});
