// GatewayError: the one error type the gateway raises on purpose, keyed by a string-literal code.

export const ERROR_CODES = [
  'invalid_json',
  'invalid_body',
  'invalid_query',
  'invalid_code',
  'invalid_value',
  'invalid_config',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'not_published',
  'not_anchored',
  'gone',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'unavailable',
  'not_implemented',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An expected failure with a stable code; callers branch on `code`, never on `message`. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details?: readonly string[];
  /** For `rate_limited`, `unavailable`, `not_published` and `not_anchored`: when to try again (the `Retry-After` header), in seconds. */
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: readonly string[]; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    if (options?.details) this.details = options.details;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** True when `error` is a GatewayError with the given code. */
export function isGatewayError(error: unknown, code?: ErrorCode): error is GatewayError {
  return error instanceof GatewayError && (code === undefined || error.code === code);
}
