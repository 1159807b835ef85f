// npm run bench:crypto — ops/s and median per op for VRF prove/verify, ticket verification,
// committee selection from 1,000 frozen tickets, and the sender's publication check of a request.
import { concatBytes, utf8 } from '../lib/crypto/bytes.ts';
import { prove, verify } from '../lib/crypto/ecvrf.ts';
import { sha256 } from '../lib/crypto/hash.ts';
import { computeScore, createCommitteeSelector } from '../lib/protocol/committee.ts';
import { createTicket, verifyTicket } from '../lib/protocol/tickets.ts';
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
