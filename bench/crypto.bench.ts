// npm run bench:crypto — ops/s and median per op for VRF prove/verify, ticket verification,
// committee selection from 1,000 frozen tickets, and the sender's publication check of a request;
// then how long a round's VRF work blocks the event loop, on the main thread and on the VRF pool.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { concatBytes, utf8 } from '../lib/crypto/bytes.ts';
import { prove, verify } from '../lib/crypto/ecvrf.ts';
import { sha256 } from '../lib/crypto/hash.ts';
import { computeScore, createCommitteeSelector } from '../lib/protocol/committee.ts';
import { createTicket, createTicketWith, verifyTicket, verifyTicketWith } from '../lib/protocol/tickets.ts';
import { GENESIS_SEED, createRound, createRoundWith } from '../lib/protocol/rounds.ts';
import type { VrfRunner } from '../lib/crypto/vrf-runner.ts';
import { createVrfPool } from '../lib/runtime/vrf-pool.ts';
import { toHex } from '../lib/crypto/bytes.ts';
import { computeResultHash } from '../lib/crypto/canonical-json.ts';
import { computeContentId } from '../lib/crypto/content-id.ts';
import { createSigner } from '../lib/crypto/keys.ts';
import { computeVoteBinding, createVote } from '../lib/protocol/vote.ts';
import { verifyOutcome } from '../lib/protocol/verify-outcome.ts';
import { buildNodes } from '../test/support/builders.ts';

interface Result { name: string; medianUs: number; opsPerSec: number }

/** Runs `fn` in `samples` batches of `batch` calls; reports the median batch time per call. */
function measure(name: string, samples: number, batch: number, fn: (i: number) => unknown): Result {
  for (let i = 0; i < batch * 3; i++) fn(i);
  const perCall: number[] = [];
  let calls = 0;
  for (let s = 0; s < samples; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn(calls++);
    perCall.push(Number(process.hrtime.bigint() - start) / 1000 / batch);
  }
  perCall.sort((a, b) => a - b);
  const medianUs = perCall[Math.floor(perCall.length / 2)];
  return { name, medianUs, opsPerSec: 1e6 / medianUs };
}

const key = sha256(utf8('bench key'));
const seed = sha256(utf8('bench seed'));
const alpha = utf8('gw/ticket/v1 bench');
const proof = prove(key, alpha);
const { vrfPublicKey, vrfSecretKey } = buildNodes(1)[0].keys;
const ticket = createTicket('node_bench', vrfSecretKey, 7, seed);

// Selection cost depends only on the number of tickets, so 1,000 pseudo-random 64-byte betas stand in for proofs.
const tickets = Array.from({ length: 1000 }, (_, i) => ({
  nodeId: `node_${i.toString(16).padStart(20, '0')}`,
  beta: concatBytes(sha256(utf8(`beta-a-${i}`)), sha256(utf8(`beta-b-${i}`))),
}));
const selector = createCommitteeSelector(tickets);

// The publication check of one request: a committee of 3, three signed votes, the tally.
const voters = buildNodes(3);
const checked = { id: 'req_bench', createdAt: '2026-01-01T00:00:00.000Z', codeCid: computeContentId(utf8('export default () => 1')), input: { n: 1 } };
const assignment = { round: 5, committee: voters.map((n) => n.nodeId), quorum: 2, aggregation: 'exact' as const };
const binding = computeVoteBinding(checked, assignment);
const votes = voters.map((n) => createVote(createSigner(n.keys.signSecretKey), { requestId: 'req_bench', nodeId: n.nodeId, round: 5, ok: true, value: { price: 42 } }, binding));
const storedRequest = { ...checked, assignment, votes, outcome: { ok: true, value: { price: 42 }, resultHash: toHex(computeResultHash({ price: 42 })) } };
const signKeys = new Map(voters.map((n) => [n.nodeId, n.keys.signPublicKey]));

const results = [
  measure('VRF prove (ELL2)', 15, 20, () => prove(key, alpha)),
  measure('VRF verify (ELL2)', 15, 20, () => verify(vrfPublicKey, proof, alpha)),
  measure('ticket verification', 15, 20, () => verifyTicket(vrfPublicKey, 7, seed, ticket)),
  measure('publication check of a request (committee of 3, 3 votes)', 31, 20, () => verifyOutcome(storedRequest, assignment.committee, signKeys)),
  measure('committee k=3 from 1,000 tickets', 31, 50, (i) => selector.select(`req_${i.toString(36)}xxxxxxxxxxxxxxxx`, 3)),
  measure('committee k=3 from 1,000 tickets, naive (node:crypto sort)', 11, 5, (i) =>
    tickets.map((t) => ({ id: t.nodeId, s: Buffer.from(computeScore(t.beta, `req_${i}`)) })).sort((a, b) => Buffer.compare(a.s, b.s)).slice(0, 3)),
];

console.log(`node ${process.version}, ${new Date().toISOString()}`);
for (const r of results) {
  console.log(`${r.name.padEnd(62)} ${r.opsPerSec.toFixed(0).padStart(9)} ops/s   median ${(r.medianUs / 1000).toFixed(3)} ms`);
}
const [fast, naive] = results.slice(-2);
console.log(`committee selection speed-up over the naive method: ${(naive.medianUs / fast.medianUs).toFixed(1)}x`);

// A round's VRF work as the roles do it: the scheduler's round proof, each node's ticket proof (the
// executors) and the scheduler's check of each ticket, every call a job of its own (a turn of the loop).
const ROUND_NODES = 3;
const ROUNDS = 100;
const roundNodes = buildNodes(ROUND_NODES);
const anchor = { ticketsRoot: sha256(utf8('root')), ledgerLength: 0, ledgerHead: new Uint8Array(32) };

async function roundOnMainThread(r: number): Promise<void> {
  const round = createRound(key, r, GENESIS_SEED, anchor);
  await nextTurn();
  const made = [];
  for (const n of roundNodes) {
    made.push(createTicket(n.nodeId, n.keys.vrfSecretKey, r, round.seed));
    await nextTurn();
  }
  for (const [i, n] of roundNodes.entries()) {
    verifyTicket(n.keys.vrfPublicKey, r, round.seed, made[i]);
    await nextTurn();
  }
}

async function roundOnPool(vrf: VrfRunner, r: number): Promise<void> {
  const round = await createRoundWith(vrf, key, r, GENESIS_SEED, anchor);
  const made = await Promise.all(roundNodes.map((n) => createTicketWith(vrf, n.nodeId, n.keys.vrfSecretKey, r, round.seed)));
  await Promise.all(roundNodes.map((n, i) => verifyTicketWith(vrf, n.keys.vrfPublicKey, r, round.seed, made[i])));
}

/** Event-loop delay (ms) while `ROUNDS` rounds run one after another: max, p99, mean, and wall time per round. */
async function loopDelayOf(runRound: (r: number) => Promise<void>): Promise<{ maxMs: number; p99Ms: number; meanMs: number; perRoundMs: number }> {
  await runRound(1); // warm-up (and the pool's thread start)
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const start = performance.now();
  for (let r = 2; r < ROUNDS + 2; r++) await runRound(r);
  const perRoundMs = (performance.now() - start) / ROUNDS;
  histogram.disable();
  return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, meanMs: histogram.mean / 1e6, perRoundMs };
}

// Alternated, so a change in the machine's load falls on both; the medians are printed side by side.
const REPETITIONS = 3;
const pool = createVrfPool();
const runs: { main: Awaited<ReturnType<typeof loopDelayOf>>; pool: Awaited<ReturnType<typeof loopDelayOf>> }[] = [];
for (let i = 0; i < REPETITIONS; i++) runs.push({ main: await loopDelayOf(roundOnMainThread), pool: await loopDelayOf((r) => roundOnPool(pool, r)) });
await pool.close();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`\nevent-loop delay while a round's VRF work runs (1 round proof, ${ROUND_NODES} ticket proofs, ${ROUND_NODES} ticket checks; ${ROUNDS} rounds, median of ${REPETITIONS} alternating repetitions):`);
console.log(`${''.padEnd(26)} ${'main thread'.padStart(12)} ${'VRF pool'.padStart(12)} ${'pool/main'.padStart(10)}   per repetition`);
for (const [label, field] of [['max (ms)', 'maxMs'], ['p99 (ms)', 'p99Ms'], ['mean (ms)', 'meanMs'], ['wall time per round (ms)', 'perRoundMs']] as const) {
  const a = median(runs.map((run) => run.main[field]));
  const b = median(runs.map((run) => run.pool[field]));
  const each = runs.map((run) => (run.pool[field] / run.main[field]).toFixed(2)).join(' ');
  console.log(`${label.padEnd(26)} ${a.toFixed(2).padStart(12)} ${b.toFixed(2).padStart(12)} ${(b / a).toFixed(2).padStart(10)}   ${each}`);
}
