// npm run bench:crypto — ops/s and median per op for VRF prove/verify, ticket verification and
// committee selection from 1,000 frozen tickets.
import { concatBytes, utf8 } from '../lib/crypto/bytes.ts';
import { prove, verify } from '../lib/crypto/ecvrf.ts';
import { sha256 } from '../lib/crypto/hash.ts';
import { computeScore, createCommitteeSelector } from '../lib/protocol/committee.ts';
import { createTicket, verifyTicket } from '../lib/protocol/tickets.ts';
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

const results = [
  measure('VRF prove (ELL2)', 15, 20, () => prove(key, alpha)),
  measure('VRF verify (ELL2)', 15, 20, () => verify(vrfPublicKey, proof, alpha)),
  measure('ticket verification', 15, 20, () => verifyTicket(vrfPublicKey, 7, seed, ticket)),
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
