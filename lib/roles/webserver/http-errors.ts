// The one place that maps error codes to HTTP: API.md's envelope, never a stack trace.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { GatewayError, type ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_code: 400,
  invalid_value: 400,
  invalid_config: 500,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

const KOA_STATUS_CODES: Record<number, ErrorCode> = { 400: 'invalid_body', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'not_found', 413: 'payload_too_large', 415: 'unsupported_media_type' };

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Sets `X-Request-Id`, turns every thrown error into the envelope, and answers unknown routes with 404. */
export function createErrorMiddleware(logger: Logger) {
  return async function errors(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new GatewayError('not_found', `no route for ${ctx.method} ${ctx.path}`);
    } catch (error) {
      const gatewayError = toGatewayError(error);
      ctx.status = STATUS[gatewayError.code];
      ctx.body = { error: { code: gatewayError.code, message: gatewayError.message, ...(gatewayError.details ? { details: gatewayError.details } : {}) } };
      if (gatewayError.code === 'rate_limited') ctx.set('Retry-After', '1');
      if (ctx.status >= 500) logger.error({ httpRequestId: requestId, method: ctx.method, path: ctx.path, err: { message: (error as Error)?.message, name: (error as Error)?.name } }, 'request failed');
    }
  };
}

function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const status = (error as { status?: number; expose?: boolean })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new GatewayError(KOA_STATUS_CODES[status] ?? 'invalid_body', (error as Error).message || 'bad request');
  }
  if (isRedisDown(error)) return new GatewayError('unavailable', 'the gateway cannot reach its store; try again shortly');
  return new GatewayError('internal', 'internal error');
}

function isRedisDown(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  return /ECONNREFUSED|Connection is closed|ETIMEDOUT|MaxRetriesPerRequest/.test(message);
}
