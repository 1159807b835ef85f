// The one place that maps error codes to HTTP: docs/api.md's envelope, never a stack trace.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { GatewayError, type ErrorCode } from '../../errors.ts';
import { errorForLog, type Logger } from '../../logger.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_query: 400,
  invalid_code: 400,
  invalid_value: 400,
  invalid_config: 500,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  not_published: 409,
  not_anchored: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  not_implemented: 501,
  internal: 500,
};

const KOA_STATUS_CODES: Record<number, ErrorCode> = { 400: 'invalid_body', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 413: 'payload_too_large', 415: 'unsupported_media_type', 501: 'not_implemented' };

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Sets `X-Request-Id` and turns every thrown error into the envelope. Also puts the router's bare
 * statuses into it: 404 for an unknown path, 405 `method_not_allowed` for a known path with another
 * method (its `Allow` header is kept), 501 `not_implemented` for a method no route serves.
 */
export function createErrorMiddleware(logger: Logger, isStoreConnected: () => boolean = () => true) {
  return async function errors(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
      if (ctx.body === undefined) throwBareStatus(ctx);
    } catch (error) {
      const gatewayError = toGatewayError(error, isStoreConnected);
      ctx.status = STATUS[gatewayError.code];
      ctx.body = { error: { code: gatewayError.code, message: gatewayError.message, ...(gatewayError.details ? { details: gatewayError.details } : {}) } };
      if (gatewayError.code === 'rate_limited' || gatewayError.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(gatewayError.retryAfterSeconds ?? 1));
      if (ctx.status >= 500 && gatewayError.code !== 'not_implemented') logger.error({ httpRequestId: requestId, method: ctx.method, route: String((ctx as { _matchedRoute?: unknown })._matchedRoute ?? 'unmatched'), err: errorForLog(error) }, 'request failed');
    }
  };
}

/** Throws for a status the router set without a body (allowedMethods, or no route at all). */
function throwBareStatus(ctx: Context): void {
  if (ctx.status === 404) throw new GatewayError('not_found', `no route for ${ctx.method} ${ctx.path}`);
  if (ctx.status === 405) throw new GatewayError('method_not_allowed', `${ctx.method} is not allowed here; use ${ctx.response.get('Allow')}`);
  if (ctx.status === 501) {
    if (ctx.response.get('Allow') === '') ctx.remove('Allow');
    throw new GatewayError('not_implemented', `the method ${ctx.method} is not supported`);
  }
}

function toGatewayError(error: unknown, isStoreConnected: () => boolean): GatewayError {
  if (error instanceof GatewayError) return error;
  const status = (error as { status?: number; expose?: boolean })?.status;
  if (typeof status === 'number' && ((status >= 400 && status < 500) || status === 501)) {
    return new GatewayError(KOA_STATUS_CODES[status] ?? 'invalid_body', (error as Error).message || 'bad request');
  }
  if (isStoreDown(error, isStoreConnected)) return new GatewayError('unavailable', 'the gateway cannot reach its store; try again shortly');
  return new GatewayError('internal', 'internal error');
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

// A failure while the connection is down, or one the network reports by code (never by message text).
function isStoreDown(error: unknown, isStoreConnected: () => boolean): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return !isStoreConnected() || NETWORK_CODES.has(String(code)) || name === 'MaxRetriesPerRequestError';
}
