// The one error the Gateway client throws: the API's error envelope, or why no answer came.

/** The codes of docs/api.md's error table, plus the client's own for no usable answer. */
export type GatewayApiErrorCode =
  | 'invalid_json' | 'invalid_body' | 'invalid_query' | 'invalid_code' | 'unauthorized' | 'forbidden'
  | 'not_found' | 'method_not_allowed' | 'conflict' | 'not_published' | 'not_anchored' | 'gone'
  | 'payload_too_large' | 'unsupported_media_type' | 'rate_limited' | 'internal' | 'not_implemented' | 'unavailable'
  /** No HTTP answer: connection refused, DNS, or the call's timeout (`status` 0). */
  | 'unreachable'
  /** An answer without the API's error envelope (a proxy's page, say). */
  | 'invalid_response';

export interface GatewayApiErrorFields {
  readonly status: number;
  readonly code: GatewayApiErrorCode;
  readonly message: string;
  readonly details?: readonly string[];
  readonly retryAfterSeconds?: number;
  /** The `X-Request-Id` the gateway answered with, as its error logs quote it. */
  readonly requestId?: string;
  readonly cause?: unknown;
}

/** A call the gateway refused (`status` is the HTTP status) or that got no answer (`status` 0). */
export class GatewayApiError extends Error {
  readonly status: number;
  readonly code: GatewayApiErrorCode;
  readonly details: readonly string[];
  readonly retryAfterSeconds?: number;
  readonly requestId?: string;

  constructor(fields: GatewayApiErrorFields) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'GatewayApiError';
    this.status = fields.status;
    this.code = fields.code;
    this.details = fields.details ?? [];
    if (fields.retryAfterSeconds !== undefined) this.retryAfterSeconds = fields.retryAfterSeconds;
    if (fields.requestId !== undefined) this.requestId = fields.requestId;
  }
}

/** True for a `GatewayApiError`, optionally with one of `codes`. */
export function isGatewayApiError(error: unknown, ...codes: GatewayApiErrorCode[]): error is GatewayApiError {
  return error instanceof GatewayApiError && (codes.length === 0 || codes.includes(error.code));
}
