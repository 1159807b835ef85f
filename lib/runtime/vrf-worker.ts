// The VRF worker thread: answers prove and verify calls from lib/runtime/vrf-pool.ts, one at a time.
// A secret key arrives in a message (same process) and is used for one proof; nothing is logged here.
import { parentPort } from 'node:worker_threads';
import { inlineVrf } from '../crypto/vrf-runner.ts';
import type { VrfCall, VrfReply } from './vrf-pool.ts';

const port = parentPort!;
port.on('message', (call: VrfCall) => {
  const answer = call.op === 'prove'
    ? inlineVrf.prove(call.secretKey, call.alpha, call.suite).then((value): VrfReply => ({ id: call.id, op: 'prove', ...value }))
    : inlineVrf.verify(call.publicKey, call.proof, call.alpha, call.suite).then((beta): VrfReply => ({ id: call.id, op: 'verify', beta }));
  answer.then(
    (reply) => port.postMessage(reply),
    (error: Error) => port.postMessage({ id: call.id, op: 'error', name: error.name, message: error.message } satisfies VrfReply),
  );
});
