// Re-sent writes of the round clock: a round start and a ticket. The scheduler's connection is cut
// after Redis applied the write and before the reply came back, so the write runs twice. Each case
// asserts one effect: one round record per number in a chain that verifies, every node asked for its
// ticket of that round, one ticket per node and round.
import { expect } from 'chai';
import { fromHex } from '../../lib/crypto/bytes.ts';
import { publicKey } from '../../lib/crypto/ecvrf.ts';
import { verifyRoundChain } from '../../lib/protocol/rounds.ts';
import { jobIds } from '../../lib/queues.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import { scriptArgs } from '../support/fault-proxy.ts';
import { COUNTER_KEY, roundProofOf, waitFor } from '../support/gateway.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { SETTLE_MS, openFaultBench, type FaultBench } from './support/fault-bench.ts';
import { finishedJob, injected, roundStartWrite, ticketWrite } from './support/checks.ts';

/** Rounds long enough that every node's ticket lands before its round freezes on a busy machine. */
const ROUND_MS = '1000';

describe('faults: re-sent round writes', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let bench: FaultBench;

  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    bench = await openFaultBench(redis.url, { env: { GATEWAY_ROUND_MS: ROUND_MS } });
    for (const node of bench.nodes) await bench.direct.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));
    await bench.startNodes();
  });
  afterEach(async () => {
    await bench.stop();
  });

  const roundExists = (round: number) => waitFor(async () => (await bench.direct.repository.getRound(round)) ?? undefined, SETTLE_MS + 5000, `round ${round}`);

  it('round start: a re-sent start of round 3 still asks every node for its ticket, and the round chain verifies', async () => {
    const fault = bench.proxy.dropReplyOnce(roundStartWrite(3));
    await bench.start(bench.faulty, 'scheduler');
    await injected(fault);
    for (const node of bench.nodes) {
      expect(await finishedJob(bench.direct, 'ticketRequests', jobIds.ticket(3), node.nodeId), `node ${node.nodeId}`).to.equal('ticket sent');
    }
    await roundExists(4);
    const tickets = await bench.direct.repository.listTickets(3);
    expect(tickets.map((t) => t.nodeId)).to.deep.equal(bench.nodes.map((n) => n.nodeId).sort());
    const rounds = await Promise.all([1, 2, 3, 4].map(async (n) => roundProofOf((await bench.direct.repository.getRound(n))!)));
    expect(verifyRoundChain(publicKey(COUNTER_KEY), rounds)).to.deep.equal({ ok: true });
    expect((await bench.direct.repository.getRound(3))!.frozen).to.equal(true);
  });

  it('ticket: a re-sent ticket is stored once and reported stored', async () => {
    const fault = bench.proxy.dropReplyOnce(ticketWrite);
    await bench.start(bench.faulty, 'scheduler');
    const { argv } = scriptArgs((await injected(fault)).command)!;
    const [nodeId, json, roundText] = argv;
    const round = Number(roundText);
    expect(await finishedJob(bench.direct, 'tickets', jobIds.submittedTicket(round, nodeId), nodeId)).to.equal('stored');
    const stored = (await bench.direct.repository.listTickets(round)).filter((t) => t.nodeId === nodeId);
    expect(stored).to.deep.equal([{ nodeId, ...(JSON.parse(json) as { beta: string; proof: string }) }]);
    expect(fromHex(stored[0].beta, 64)).to.have.length(64);
    expect((await bench.direct.repository.getNode(nodeId))!.lastTicketRound).to.be.at.least(round);
  });
});
