// Turns untrusted request bodies into typed values; every problem is named in `details` at once.
import type { Config } from '../../config.ts';
import { GatewayError } from '../../errors.ts';
import { findNonJson } from '../../crypto/canonical-json.ts';
import { AGGREGATIONS, defaultQuorum, type Aggregation } from '../../protocol/vote-tally.ts';
import { parseProjectLimits, type ProjectLimits } from '../../limits.ts';
import * as schemas from './api-schemas.ts';

export { isTimeZone } from './api-schemas.ts';

type Checker = { problems: string[] };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(problems: string[]): never {
  throw new GatewayError('invalid_body', `invalid body: ${problems.join('; ')}`, { details: problems });
}

function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (!isObject(body)) fail(['body: must be a JSON object']);
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) fail(unknown.map((k) => `${k}: unknown field`));
  return body;
}

function text(c: Checker, value: unknown, field: string, options: { required: boolean; maxLength: number; minLength?: number }): string | undefined {
  if (value === undefined && !options.required) return undefined;
  if (typeof value !== 'string') return void c.problems.push(`${field}: must be a string`) as undefined;
  if (value.length < (options.minLength ?? 0) || value.length > options.maxLength) {
    c.problems.push(`${field}: must be ${options.minLength ?? 0}..${options.maxLength} characters`);
  }
  return value;
}

function integer(c: Checker, value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    c.problems.push(`${field}: must be an integer in ${min}..${max}`);
    return undefined;
  }
  return value;
}

function jsonInput(c: Checker, value: unknown, field: string): unknown {
  const reason = findNonJson(value);
  if (reason) c.problems.push(`${field}: ${reason}`);
  return value;
}

export interface ProjectDraft {
  name: string;
  code: string;
  description: string;
  committee: { size: number; quorum: number };
  aggregation: Aggregation;
  limits: ProjectLimits;
}

/** `POST /v1/projects` body, with defaults and the operator's ceilings applied. */
export function parseProjectBody(body: unknown, config: Config): ProjectDraft {
  const b = objectBody(body, ['name', 'code', 'description', 'committee', 'aggregation', 'limits']);
  const c: Checker = { problems: [] };
  const name = text(c, b.name, 'name', { required: true, minLength: 1, maxLength: 100 });
  const code = parseCode(c, b.code, config);
  const description = text(c, b.description, 'description', { required: false, maxLength: 2000 }) ?? '';
  let size = 3;
  let quorum: number | undefined;
  if (b.committee !== undefined) {
    if (!isObject(b.committee)) c.problems.push('committee: must be an object {size, quorum}');
    else {
      size = integer(c, b.committee.size, 'committee.size', 1, config.maxCommitteeSize) ?? size;
      quorum = integer(c, b.committee.quorum, 'committee.quorum', 1, size);
    }
  }
  let aggregation: Aggregation = 'exact';
  if (b.aggregation !== undefined) {
    if (!AGGREGATIONS.includes(b.aggregation as Aggregation)) c.problems.push(`aggregation: must be one of ${AGGREGATIONS.join(', ')}`);
    else aggregation = b.aggregation as Aggregation;
  }
  const limits = parseLimits(c, b.limits, config);
  if (c.problems.length > 0) fail(c.problems);
  schemas.assertConforms(schemas.ProjectDraftBody, body, 'project body');
  return { name: name!, code: code!, description, committee: { size, quorum: quorum ?? defaultQuorum(size) }, aggregation, limits };
}

// The `limits` field: checked here so its problems join the body's others; the rules are lib/limits.ts's.
function parseLimits(c: Checker, value: unknown, config: Config): ProjectLimits {
  if (value !== undefined && !isObject(value)) c.problems.push('limits: must be an object');
  return parseProjectLimits(isObject(value) ? value : {}, config, {
    integer: (given, name, min, max) => integer(c, given, `limits.${name}`, min, max),
    unknownField: (name) => c.problems.push(`limits.${name}: unknown field`),
  });
}

function parseCode(c: Checker, value: unknown, config: Config): string | undefined {
  const code = text(c, value, 'code', { required: true, minLength: 1, maxLength: config.maxCodeBytes });
  if (code !== undefined && Buffer.byteLength(code) > config.maxCodeBytes) c.problems.push(`code: must be at most ${config.maxCodeBytes} bytes`);
  return code;
}

/** `PUT /v1/projects/:id/code` body. */
export function parseCodeBody(body: unknown, config: Config): string {
  const b = objectBody(body, ['code']);
  const c: Checker = { problems: [] };
  const code = parseCode(c, b.code, config);
  if (c.problems.length > 0) fail(c.problems);
  schemas.assertConforms(schemas.CodeBody, body, 'code body');
  return code!;
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * `PUT /v1/projects/:id/secrets` body: `{NAME: "value"}` replacing every secret, at most
 * `maxSecrets` names and `maxSecretBytes` UTF-8 bytes of values together (413 past the bytes).
 */
export function parseSecretsBody(body: unknown, config: Pick<Config, 'maxSecrets' | 'maxSecretBytes'>): Record<string, string> {
  if (!isObject(body)) fail(['body: must be a JSON object of NAME: "value"']);
  const problems: string[] = [];
  const entries = Object.entries(body);
  if (entries.length > config.maxSecrets) fail([`body: at most ${config.maxSecrets} secrets`]);
  let bytes = 0;
  for (const [name, value] of entries) {
    if (!SECRET_NAME.test(name)) problems.push(`${name.slice(0, 64)}: names are letters, digits and _ (not starting with a digit), up to 64`);
    if (typeof value !== 'string') problems.push(`${name.slice(0, 64)}: must be a string`);
    else bytes += Buffer.byteLength(value);
  }
  if (problems.length > 0) fail(problems);
  if (bytes > config.maxSecretBytes) {
    throw new GatewayError('payload_too_large', `the secrets hold ${bytes} bytes, at most ${config.maxSecretBytes}`, { details: [`body: ${bytes} bytes of secret values, at most ${config.maxSecretBytes}`] });
  }
  schemas.assertConforms(schemas.SecretsBody, body, 'secrets body');
  return body as Record<string, string>;
}

/** `POST /v1/projects/:id/requests` body (empty means `{input: null}`). */
export function parseRequestBody(body: unknown): { input: unknown; version?: number } {
  if (body === undefined) return { input: null };
  const b = objectBody(body, ['input', 'version']);
  const c: Checker = { problems: [] };
  const input = b.input === undefined ? null : jsonInput(c, b.input, 'input');
  const version = integer(c, b.version, 'version', 1, Number.MAX_SAFE_INTEGER);
  if (c.problems.length > 0) fail(c.problems);
  schemas.assertConforms(schemas.RequestBody, body, 'request body');
  return { input, ...(version === undefined ? {} : { version }) };
}

/**
 * `POST /v1/projects/:id/schedules` body; the cron syntax is checked by the caller. `version` pins a
 * code version (default: the latest at each tick); `timezone` is an IANA zone the cron fields are read
 * in (default UTC).
 */
export function parseScheduleBody(body: unknown): { cron: string; input: unknown; version?: number; timezone?: string } {
  const b = objectBody(body, ['cron', 'input', 'version', 'timezone']);
  const c: Checker = { problems: [] };
  const cron = text(c, b.cron, 'cron', { required: true, minLength: 1, maxLength: 200 });
  const input = b.input === undefined ? null : jsonInput(c, b.input, 'input');
  const version = integer(c, b.version, 'version', 1, Number.MAX_SAFE_INTEGER);
  const timezone = text(c, b.timezone, 'timezone', { required: false, minLength: 1, maxLength: 64 });
  if (timezone !== undefined && !schemas.isTimeZone(timezone)) c.problems.push('timezone: not an IANA time zone (e.g. "Europe/Berlin", "UTC")');
  if (c.problems.length > 0) fail(c.problems);
  schemas.assertConforms(schemas.ScheduleBody, body, 'schedule body');
  return { cron: cron!, input, ...(version === undefined ? {} : { version }), ...(timezone === undefined ? {} : { timezone }) };
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const HEX_SIGNATURE = /^[0-9a-fA-F]{128}$/;

/**
 * `POST /v1/nodes` body: what `gateway node init` prints. `name` absent is `""` (the registration
 * signs it either way); `id`, when given, is checked against the signing key by the route.
 */
export function parseNodeBody(body: unknown): { id?: string; name: string; signPublicKey: string; vrfPublicKey: string; registration: string } {
  const b = objectBody(body, ['id', 'name', 'signPublicKey', 'vrfPublicKey', 'registration']);
  const c: Checker = { problems: [] };
  const id = text(c, b.id, 'id', { required: false, maxLength: 100 });
  const name = text(c, b.name, 'name', { required: false, maxLength: 100 });
  for (const field of ['signPublicKey', 'vrfPublicKey'] as const) {
    if (typeof b[field] !== 'string' || !HEX_KEY.test(b[field] as string)) c.problems.push(`${field}: must be 32 bytes of hex`);
  }
  if (typeof b.registration !== 'string' || !HEX_SIGNATURE.test(b.registration)) c.problems.push('registration: must be 64 bytes of hex (the node\'s signature; `gateway node init` prints it)');
  if (c.problems.length > 0) fail(c.problems);
  schemas.assertConforms(schemas.NodeRegistrationBody, body, 'node body');
  return {
    ...(id === undefined ? {} : { id }),
    name: name ?? '',
    signPublicKey: (b.signPublicKey as string).toLowerCase(),
    vrfPublicKey: (b.vrfPublicKey as string).toLowerCase(),
    registration: (b.registration as string).toLowerCase(),
  };
}


/** `PUT /v1/projects/:id/chain` body: `{chainProjectId}`, the contract's project id (a positive i32). */
export function parseChainBindingBody(body: unknown): number {
  const b = objectBody(body, ['chainProjectId']);
  const c: Checker = { problems: [] };
  const id = integer(c, b.chainProjectId, 'chainProjectId', 1, 2 ** 31 - 1);
  if (id === undefined) c.problems.push('chainProjectId: required');
  if (c.problems.length > 0) fail(c.problems);
  schemas.assertConforms(schemas.ChainBindingBody, body, 'chain binding body');
  return id!;
}
