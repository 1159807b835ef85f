// The API's request bodies, query parameters and error envelope as zod schemas: the one definition
// /openapi.json is generated from and the parsers check what they accept against (docs/api.md).
import { z } from 'zod';
import { GatewayError } from '../../errors.ts';
import { AGGREGATIONS } from '../../protocol/vote-tally.ts';
import { LIMIT_NAMES, PROJECT_LIMITS } from '../../limits.ts';

// The operator's ceilings (GATEWAY_MAX_*) are config: the schemas state the fixed bounds and name
// the setting; the parsers apply the configured value on top.
const positive = z.int().min(1);
const jsonValue = z.unknown().meta({ description: 'any JSON value nested at most 256 levels, at most GATEWAY_MAX_INPUT_BYTES (64 KiB) of JSON text' });

const Limits = z.strictObject(Object.fromEntries(LIMIT_NAMES.map((name) => [name, z.int().min(PROJECT_LIMITS[name].min).optional()])) as Record<(typeof LIMIT_NAMES)[number], z.ZodOptional<z.ZodInt>>)
  .meta({ description: 'each defaults to GATEWAY_DEFAULT_* and must be within its minimum and GATEWAY_MAX_* (docs/sandbox.md, "Limits")' });

/** `POST /v1/projects`. */
export const ProjectDraftBody = z.strictObject({
  name: z.string().min(1).max(100),
  code: z.string().min(1).meta({ description: 'the JavaScript source (ESM, a default export), at most GATEWAY_MAX_CODE_BYTES bytes' }),
  description: z.string().max(2000).optional(),
  committee: z.object({
    size: positive.optional().meta({ description: '1..GATEWAY_MAX_COMMITTEE_SIZE, default 3' }),
    quorum: positive.optional().meta({ description: '1..size, default floor(size/2)+1' }),
  }).optional(),
  aggregation: z.enum(AGGREGATIONS).optional().meta({ description: 'default exact' }),
  limits: Limits.optional(),
});

/** `PUT /v1/projects/:id/code`. */
export const CodeBody = z.strictObject({ code: ProjectDraftBody.shape.code });

/** `PUT /v1/projects/:id/secrets`: the whole set, names to values. */
export const SecretsBody = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string())
  .meta({ description: 'at most GATEWAY_MAX_SECRETS (50) names and GATEWAY_MAX_SECRET_BYTES (64 KiB) of UTF-8 values together (413 past it)' });

/** `PUT /v1/projects/:id/chain`. */
export const ChainBindingBody = z.strictObject({ chainProjectId: z.int().min(1).max(2 ** 31 - 1) });

/** `POST /v1/projects/:id/requests` (an empty body is `{"input": null}`). */
export const RequestBody = z.strictObject({
  input: jsonValue.optional(),
  version: positive.optional().meta({ description: 'an older code version; default the current one' }),
});

/** Whether the runtime's time zone database knows `zone` (what node-cron's `timezone` option uses too). */
export function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z0-9_+\-/]+$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** `POST /v1/projects/:id/schedules`. */
export const ScheduleBody = z.strictObject({
  cron: z.string().min(1).max(200).meta({ description: '5 or 6 fields checked by the gateway\'s bounded grammar (docs/api.md, "Schedules"), at most 120 characters once trimmed' }),
  input: jsonValue.optional(),
  version: positive.optional().meta({ description: 'pins the code version every tick runs; default the latest at each tick' }),
  timezone: z.string().min(1).max(64).refine(isTimeZone, 'not an IANA time zone').optional().meta({ description: 'an IANA time zone the fields are read in; default UTC' }),
});

const HEX_KEY_ANY_CASE = z.string().regex(/^[0-9a-fA-F]{64}$/);

/** `POST /v1/nodes`: what `gateway node init --json` prints. */
export const NodeRegistrationBody = z.strictObject({
  id: z.string().max(100).optional().meta({ description: 'when given, must be the id signPublicKey derives (docs/protocol.md)' }),
  name: z.string().max(100).optional().meta({ description: 'signed by the registration; absent is ""' }),
  signPublicKey: HEX_KEY_ANY_CASE,
  vrfPublicKey: HEX_KEY_ANY_CASE,
  registration: z.string().regex(/^[0-9a-fA-F]{128}$/).meta({ description: 'Ed25519 signature of signPublicKey over "gw/node/v2" || vrfPublicKey || u64be(len(name)) || name' }),
});

const TIMESTAMP_MS = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

/** `POST /v1/exports`: an export `gateway export` wrote. */
export const ExportBody = z.strictObject({
  fromSeq: positive,
  toSeq: positive.meta({ description: 'at least fromSeq, at most the ledger length' }),
  ledgerFile: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/),
  receiptsFile: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/),
  receipts: z.int().min(0),
  firstCreatedAt: TIMESTAMP_MS,
  lastCreatedAt: TIMESTAMP_MS,
});

/** Query parameters, by name; each route lists the ones it reads in openapi.ts. */
export const QUERY = {
  limit: z.int().min(1).max(500).default(50).meta({ description: 'page size' }),
  cursor: z.string().min(1).meta({ description: 'the nextCursor of the previous page; nothing else' }),
  after: z.int().min(0).max(10 ** 15).default(0).meta({ description: 'the last ledger seq already seen (or give cursor, not both)' }),
  wait: z.int().min(0).max(30_000).default(0).meta({ description: 'ms to hold the answer until the request is published or failed' }),
  full: z.enum(['true', 'false']).default('false').meta({ description: 're-verify the whole chain from seq 1 (admin token only)' }),
} as const;

/** What the query parsers return, checked like the bodies. */
export const ParsedQuery = {
  list: z.strictObject({ limit: QUERY.limit, cursor: QUERY.cursor.optional() }),
  ledger: z.strictObject({ after: QUERY.after, limit: QUERY.limit }),
  wait: QUERY.wait,
  verify: z.strictObject({ full: z.boolean() }),
} as const;

/** The HTTP-visible error codes (docs/api.md's table). */
export const API_ERROR_CODES = [
  'invalid_json', 'invalid_body', 'invalid_query', 'invalid_code', 'unauthorized', 'forbidden', 'not_found', 'method_not_allowed', 'conflict',
  'not_published', 'not_anchored', 'gone', 'payload_too_large', 'unsupported_media_type', 'rate_limited', 'internal', 'not_implemented', 'unavailable',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** Every error answer: `{error: {code, message, details?}}`. */
export const ErrorEnvelope = z.object({
  error: z.looseObject({
    code: z.enum(API_ERROR_CODES),
    message: z.string(),
    details: z.array(z.string()).optional().meta({ description: 'every problem found, one per entry (`field: why`)' }),
  }),
});

/**
 * Checks that a value a hand-written parser accepted is accepted by its schema too, so the
 * document cannot promise less than the API takes: a drift is a 500 `internal` naming the schema
 * and the paths (never the values), and fails the tests that send valid bodies.
 */
export function assertConforms(schema: z.ZodType, value: unknown, what: string): void {
  const checked = schema.safeParse(value);
  if (checked.success) return;
  const paths = checked.error.issues.map((issue) => issue.path.join('.') || '(root)');
  throw new GatewayError('internal', `${what}: the parser accepted what its schema refuses at ${paths.join(', ')} (api-schemas.ts drifted)`);
}
