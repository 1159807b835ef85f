// GatewayError: the one error type the gateway raises on purpose, keyed by a string-literal code.

export const ERROR_CODES = [
  'invalid_json',
  'invalid_body',
  'invalid_code',
  'invalid_value',
  'invalid_config',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An expected failure with a stable code; callers branch on `code`, never on `message`. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details?: readonly string[];

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    if (options?.details) this.details = options.details;
  }
}

/** True when `error` is a GatewayError with the given code. */
export function isGatewayError(error: unknown, code?: ErrorCode): error is GatewayError {
  return error instanceof GatewayError && (code === undefined || error.code === code);
}
