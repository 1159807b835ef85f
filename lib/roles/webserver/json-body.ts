// Reads a JSON request body with a byte limit: 415 for other media types, 413 past the limit, 400 for bad JSON.
import type { Context } from 'koa';
import { GatewayError } from '../../errors.ts';

/** The parsed body, or undefined when the request has none. */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  const declared = ctx.get('Content-Length');
  if (declared && Number(declared) > limitBytes) throw new GatewayError('payload_too_large', `the body exceeds ${limitBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      ctx.req.destroy();
      throw new GatewayError('payload_too_large', `the body exceeds ${limitBytes} bytes`);
    }
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  if (!ctx.is('application/json', '+json')) throw new GatewayError('unsupported_media_type', 'send the body as application/json');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new GatewayError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
}
