// A code-check process: compiles and evaluates uploaded code (checkCode) one source at a time, so
// whatever the code does on the way out (a looping getter on a thrown value, a hostile
// Error.prepareStackTrace) holds this process only, until the parent's deadline kills it.
import { isGatewayError } from '../errors.ts';
import { checkCode } from './compile.ts';
import { cutUtf8 } from './outcome.ts';
import { trySend } from './sandbox-process.ts';

/** Parent → checker. */
export type CheckRequest = { type: 'check'; id: number; code: string };
/** Checker → parent. */
export type CheckReply = { type: 'ready' } | { type: 'checked'; id: number; ok: true } | { type: 'checked'; id: number; ok: false; message: string };

process.on('message', (message: CheckRequest) => {
  if (message?.type !== 'check' || typeof message.code !== 'string') return;
  let reply: CheckReply;
  try {
    checkCode(message.code);
    reply = { type: 'checked', id: message.id, ok: true };
  } catch (error) {
    const text = isGatewayError(error, 'invalid_code') ? error.message : 'the code could not be checked';
    reply = { type: 'checked', id: message.id, ok: false, message: cutUtf8(text) };
  }
  trySend(process, reply);
});

process.on('disconnect', () => process.exit(0));

trySend(process, { type: 'ready' } satisfies CheckReply);
