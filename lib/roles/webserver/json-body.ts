// Reads a JSON request body with a byte limit: 415 for other media types, 413 past the limit, 400 for bad JSON.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { GatewayError } from '../../errors.ts';

/** After a refused body, how long and how much more of it is read and thrown away before answering. */
const DISCARD_MAX_MS = 1000;
const DISCARD_MAX_BYTES = 1024 * 1024;

/**
 * The parsed body, or undefined when the request has none. Holds at most `limitBytes` in memory.
 * A body past the limit, declared (Content-Length) or streamed (chunked), is refused with 413
 * `payload_too_large` and `Connection: close`; see {@link discardRest} for what happens to the rest.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  const declared = ctx.get('Content-Length');
  const body = declared && Number(declared) > limitBytes ? undefined : await readAtMost(ctx.req, limitBytes);
  if (body === undefined) {
    ctx.set('Connection', 'close');
    await discardRest(ctx.req);
    throw new GatewayError('payload_too_large', `the body exceeds ${limitBytes} bytes`);
  }
  if (body.length === 0) return undefined;
  if (!ctx.is('application/json', '+json')) throw new GatewayError('unsupported_media_type', 'send the body as application/json');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new GatewayError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The whole body, or undefined (reading paused) as soon as it passes `limitBytes`. */
function readAtMost(req: IncomingMessage, limitBytes: number): Promise<Buffer | undefined> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (finish: () => void) => {
      req.off('data', onData).off('end', onEnd).off('error', onAbort).off('close', onAbort);
      finish();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) chunks.push(chunk);
      else settle(() => { req.pause(); resolve(undefined); });
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks, size)));
    const onAbort = () => settle(() => reject(new GatewayError('invalid_body', 'the request body was cut off')));
    req.on('data', onData).on('end', onEnd).on('error', onAbort).on('close', onAbort);
  });
}

/**
 * Reads and drops what is left of a refused body, holding none of it, until it ends or for at
 * most 1 s / 1 MiB. A client that sent a little too much has then sent everything and reads the
 * 413 cleanly; one that keeps sending gets the 413 and the socket closes after it (Node closes a
 * `Connection: close` response's socket once it is written), which bounds what it can make us read.
 * Whatever arrives after that is dropped too: the request stays in flowing mode with no listener.
 */
function discardRest(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let discarded = 0;
    const stop = () => {
      clearTimeout(timer);
      req.off('data', onData).off('end', stop).off('error', stop).off('close', stop);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARD_MAX_BYTES) stop();
    };
    const timer = setTimeout(stop, DISCARD_MAX_MS);
    req.on('data', onData).on('end', stop).on('error', stop).on('close', stop);
    req.resume();
  });
}
