// The HTTP API (docs/api.md) as an OpenAPI 3.1 document, served at GET /openapi.json: generated from
// the zod schemas the parsers check against (api-schemas.ts) and the response schemas (api-responses.ts).
import { z } from 'zod';
import * as bodies from './api-schemas.ts';
import { API_ERROR_CODES, ErrorEnvelope, QUERY, type ApiErrorCode } from './api-schemas.ts';
import * as responses from './api-responses.ts';

type Auth = 'admin' | 'project' | 'none' | 'optional';
type Tag = 'Projects' | 'Requests' | 'Nodes' | 'Ledger' | 'Exports' | 'Operations';
type ResponseName = keyof typeof RESPONSES;
type BodyName = keyof typeof BODIES;

interface Operation {
  readonly method: 'get' | 'post' | 'put' | 'delete';
  readonly path: string;
  readonly summary: string;
  readonly tag: Tag;
  readonly auth: Auth;
  readonly success: number;
  /** The success body: a component, or a media type with no schema; none for 204. */
  readonly response?: ResponseName | { readonly type: string; readonly description: string };
  readonly body?: BodyName;
  readonly query?: readonly (keyof typeof QUERY)[];
  /** Error codes the route raises itself; auth, body, query, path and store errors are added from the rest. */
  readonly errors?: readonly ApiErrorCode[];
  /** Other non-error answers (an idempotent repeat, a node already registered, not ready). */
  readonly also?: Readonly<Record<number, ResponseName>>;
}

/** Component schemas of the request bodies (read as input: defaults make fields optional). */
const BODIES = {
  NewProject: bodies.ProjectDraftBody,
  CodeUpload: bodies.CodeBody,
  Secrets: bodies.SecretsBody,
  ChainBindingUpdate: bodies.ChainBindingBody,
  NewRequest: bodies.RequestBody,
  NewSchedule: bodies.ScheduleBody,
  NodeRegistration: bodies.NodeRegistrationBody,
  NewExport: bodies.ExportBody,
} as const;

/** Component schemas of the answers. */
const RESPONSES = {
  Error: ErrorEnvelope,
  Project: responses.Project,
  ProjectCreated: responses.ProjectCreated,
  ProjectPage: responses.ProjectPage,
  ApiKey: responses.ApiKey,
  CodeVersion: responses.CodeVersion,
  CodeVersionList: responses.CodeVersionList,
  SecretNames: responses.SecretNames,
  ChainBinding: responses.ChainBinding,
  Schedule: responses.Schedule,
  ScheduleList: responses.ScheduleList,
  RequestAccepted: responses.RequestAccepted,
  Request: responses.Request,
  RequestPage: responses.RequestPage,
  Receipt: responses.Receipt,
  Node: responses.Node,
  NodeAdmitted: responses.NodeAdmitted,
  NodeList: responses.NodeList,
  Round: responses.Round,
  LedgerEntry: responses.LedgerEntry,
  LedgerPage: responses.LedgerPage,
  LedgerCheck: responses.LedgerCheck,
  ExportList: responses.ExportList,
  ExportRecorded: responses.ExportRecorded,
  Status: responses.Status,
  Health: responses.Health,
  Readiness: responses.Readiness,
} as const;

const HTML = { type: 'text/html', description: 'an HTML page' } as const;

const OPERATIONS: readonly Operation[] = [
  { method: 'post', path: '/v1/projects', summary: 'Create a project (returns its API key once)', tag: 'Projects', auth: 'admin', success: 201, body: 'NewProject', response: 'ProjectCreated', errors: ['invalid_code', 'rate_limited', 'unavailable'] },
  { method: 'get', path: '/v1/projects', summary: 'List projects', tag: 'Projects', auth: 'admin', success: 200, query: ['limit', 'cursor'], response: 'ProjectPage' },
  { method: 'get', path: '/v1/projects/{id}', summary: 'Read a project', tag: 'Projects', auth: 'project', success: 200, response: 'Project' },
  { method: 'delete', path: '/v1/projects/{id}', summary: 'Delete a project with its code versions, secrets, schedules, API key and chain binding (409 while a request of it is open)', tag: 'Projects', auth: 'project', success: 204, errors: ['conflict'] },
  { method: 'post', path: '/v1/projects/{id}/api-key', summary: 'Rotate the project API key: a new one, shown once; the old one stops at once', tag: 'Projects', auth: 'project', success: 200, response: 'ApiKey' },
  { method: 'put', path: '/v1/projects/{id}/code', summary: 'Add a code version', tag: 'Projects', auth: 'project', success: 200, body: 'CodeUpload', response: 'CodeVersion', errors: ['invalid_code', 'conflict', 'rate_limited'] },
  { method: 'get', path: '/v1/projects/{id}/versions', summary: 'List code versions', tag: 'Projects', auth: 'project', success: 200, response: 'CodeVersionList' },
  { method: 'delete', path: '/v1/projects/{id}/versions/{n}', summary: 'Delete an old code version that no open request runs', tag: 'Projects', auth: 'project', success: 204, errors: ['conflict'] },
  { method: 'get', path: '/v1/code/{cid}', summary: 'Read code by content id (CIDv1 raw sha2-256)', tag: 'Projects', auth: 'none', success: 200, response: { type: 'text/javascript', description: 'the source, cacheable forever' } },
  { method: 'put', path: '/v1/projects/{id}/secrets', summary: 'Replace the project secrets', tag: 'Projects', auth: 'project', success: 204, body: 'Secrets' },
  { method: 'get', path: '/v1/projects/{id}/secrets', summary: 'List secret names', tag: 'Projects', auth: 'project', success: 200, response: 'SecretNames' },
  { method: 'put', path: '/v1/projects/{id}/chain', summary: 'Bind an on-chain project id (Archway gateway contract)', tag: 'Projects', auth: 'admin', success: 200, body: 'ChainBindingUpdate', response: 'ChainBinding' },
  { method: 'get', path: '/v1/projects/{id}/chain', summary: 'Read the on-chain binding', tag: 'Projects', auth: 'project', success: 200, response: 'ChainBinding' },
  { method: 'post', path: '/v1/projects/{id}/schedules', summary: 'Add a cron schedule', tag: 'Projects', auth: 'project', success: 201, body: 'NewSchedule', response: 'Schedule', errors: ['conflict'] },
  { method: 'get', path: '/v1/projects/{id}/schedules', summary: 'List schedules', tag: 'Projects', auth: 'project', success: 200, response: 'ScheduleList' },
  { method: 'delete', path: '/v1/schedules/{id}', summary: 'Delete a schedule', tag: 'Projects', auth: 'project', success: 204 },
  { method: 'post', path: '/v1/projects/{id}/requests', summary: 'Send a request (Idempotency-Key header honoured; 409 conflict when the key was used with another input or version)', tag: 'Requests', auth: 'project', success: 202, body: 'NewRequest', response: 'RequestAccepted', also: { 200: 'RequestAccepted' }, errors: ['conflict', 'rate_limited'] },
  { method: 'get', path: '/v1/projects/{id}/requests', summary: 'List requests, newest first', tag: 'Requests', auth: 'project', success: 200, query: ['limit', 'cursor'], response: 'RequestPage' },
  { method: 'get', path: '/v1/requests/{id}', summary: 'Read a request (?wait=ms long-polls until final; 410 gone once retention removed it)', tag: 'Requests', auth: 'project', success: 200, query: ['wait'], response: 'Request', errors: ['gone'] },
  { method: 'get', path: '/v1/requests/{id}/receipt', summary: 'The self-contained receipt of a published request, to verify offline (409 not_published / not_anchored with Retry-After before; 410 gone naming the export once retention removed it)', tag: 'Requests', auth: 'project', success: 200, response: 'Receipt', errors: ['not_published', 'not_anchored', 'gone'] },
  { method: 'post', path: '/v1/nodes', summary: 'Register an executor node from its signed registration (`gateway node init`); 200 if already registered, 409 for a removed node or other keys', tag: 'Nodes', auth: 'admin', success: 201, body: 'NodeRegistration', response: 'NodeAdmitted', also: { 200: 'NodeAdmitted' }, errors: ['conflict'] },
  { method: 'get', path: '/v1/nodes', summary: 'List nodes with their vote statistics (votes, agreed, disagreed, late, missed)', tag: 'Nodes', auth: 'none', success: 200, response: 'NodeList' },
  { method: 'delete', path: '/v1/nodes/{id}', summary: 'Remove a node (a tombstone: no registration revives it)', tag: 'Nodes', auth: 'admin', success: 204 },
  { method: 'post', path: '/v1/nodes/{id}/readmit', summary: 'Re-admit a removed node with the record it has (200 if already active)', tag: 'Nodes', auth: 'admin', success: 200, response: 'NodeAdmitted', errors: ['conflict'] },
  { method: 'get', path: '/v1/rounds/latest', summary: 'The latest round with its tickets', tag: 'Ledger', auth: 'none', success: 200, response: 'Round', errors: ['not_found'] },
  { method: 'get', path: '/v1/rounds/{n}', summary: 'One round with its tickets', tag: 'Ledger', auth: 'none', success: 200, response: 'Round', errors: ['gone'] },
  { method: 'get', path: '/v1/ledger', summary: 'Ledger entries after a sequence number', tag: 'Ledger', auth: 'none', success: 200, query: ['after', 'cursor', 'limit'], response: 'LedgerPage' },
  { method: 'get', path: '/v1/exports', summary: 'The export mark, the ledger entries removed so far, and the exports recorded (newest first)', tag: 'Exports', auth: 'admin', success: 200, query: ['limit'], response: 'ExportList' },
  { method: 'post', path: '/v1/exports', summary: 'Record an export `gateway export` wrote (it must continue the exported range; 409 for a gap)', tag: 'Exports', auth: 'admin', success: 201, body: 'NewExport', response: 'ExportRecorded', errors: ['conflict'] },
  { method: 'get', path: '/v1/ledger/verify', summary: 'Verify the hash chain: entries appended since the last check (?full=true re-verifies from the first entry, admin only)', tag: 'Ledger', auth: 'optional', success: 200, query: ['full'], response: 'LedgerCheck', errors: ['unauthorized', 'forbidden'] },
  { method: 'get', path: '/v1/status', summary: 'Round, ticket counts, nodes with their statistics, throughput, recent request states (never inputs or results), memory and retention', tag: 'Operations', auth: 'none', success: 200, response: 'Status' },
  { method: 'get', path: '/healthz', summary: 'Process alive', tag: 'Operations', auth: 'none', success: 200, response: 'Health' },
  { method: 'get', path: '/readyz', summary: 'Redis reachable and roles ready', tag: 'Operations', auth: 'none', success: 200, response: 'Readiness', also: { 503: 'Readiness' } },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', tag: 'Operations', auth: 'none', success: 200, response: { type: 'text/plain', description: 'Prometheus text exposition (docs/operations.md, "Metrics")' } },
  { method: 'get', path: '/openapi.json', summary: 'This OpenAPI document', tag: 'Operations', auth: 'none', success: 200, response: { type: 'application/json', description: 'OpenAPI 3.1' } },
  { method: 'get', path: '/docs', summary: 'The API reference, rendered from this document (offline: every asset is served here)', tag: 'Operations', auth: 'none', success: 200, response: HTML },
  { method: 'get', path: '/docs/{asset}', summary: 'An asset of the API reference page', tag: 'Operations', auth: 'none', success: 200, response: { type: '*/*', description: 'a stylesheet, script or image' } },
  { method: 'get', path: '/', summary: 'The status page', tag: 'Operations', auth: 'none', success: 200, response: HTML },
];

/** When each code is answered (docs/api.md, "Errors"), for the responses' descriptions. */
const WHEN: Record<ApiErrorCode, string> = {
  invalid_json: 'the body is not JSON',
  invalid_body: 'a body field (or header) is wrong; `details` lists every problem',
  invalid_query: 'a query parameter is malformed, out of range, repeated or empty; `details` names each one',
  invalid_code: 'the code does not compile, imports something, fails or runs too long at top level, or has no entry point',
  unauthorized: 'no or unknown token',
  forbidden: 'a project key used on another project, or on an admin route',
  not_found: 'unknown id, version or route',
  method_not_allowed: 'a known path with another method',
  conflict: 'the state forbids it (see the summary)',
  not_published: 'the request is not published (Retry-After while it is open)',
  not_anchored: 'no round anchored the ledger entry yet (Retry-After)',
  gone: 'retention removed it; the message names the export',
  payload_too_large: 'a body, input or secrets over their limit',
  unsupported_media_type: 'a non-empty body that is not application/json',
  rate_limited: 'too many waiting; Retry-After',
  internal: 'anything unexpected',
  not_implemented: 'an HTTP method no route serves',
  unavailable: 'Redis unreachable, the code checker restarting, or secrets without a master key',
};

const STATUS_OF: Record<ApiErrorCode, number> = {
  invalid_json: 400, invalid_body: 400, invalid_query: 400, invalid_code: 400, unauthorized: 401, forbidden: 403, not_found: 404,
  method_not_allowed: 405, conflict: 409, not_published: 409, not_anchored: 409, gone: 410, payload_too_large: 413,
  unsupported_media_type: 415, rate_limited: 429, internal: 500, not_implemented: 501, unavailable: 503,
};

/** Every code an operation can answer: its own, and those its auth, body, query, path and store give. */
export function errorCodesOf(op: Operation): ApiErrorCode[] {
  const codes = new Set<ApiErrorCode>(op.errors);
  if (op.auth === 'admin' || op.auth === 'project') ['unauthorized', 'forbidden'].forEach((c) => codes.add(c as ApiErrorCode));
  if (op.body) ['invalid_json', 'invalid_body', 'payload_too_large', 'unsupported_media_type'].forEach((c) => codes.add(c as ApiErrorCode));
  if (op.query) codes.add('invalid_query');
  if (op.path.includes('{')) codes.add('not_found');
  if (op.path.startsWith('/v1/')) codes.add('unavailable');
  codes.add('internal');
  return API_ERROR_CODES.filter((code) => codes.has(code));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function errorResponses(codes: readonly ApiErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of codes) byStatus.set(STATUS_OF[code], [...(byStatus.get(STATUS_OF[code]) ?? []), code]);
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, {
    description: list.map((code) => `\`${code}\`: ${WHEN[code]}`).join('; '),
    content: { 'application/json': { schema: { allOf: [ref('Error'), { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: list } } } } }] } } },
  }]));
}

function successResponse(op: Operation, response: Operation['response']): Record<string, unknown> {
  if (response === undefined) return { description: 'No content' };
  if (typeof response === 'object') return { description: response.description, content: { [response.type]: { schema: response.type === 'application/json' ? { type: 'object' } : { type: 'string' } } } };
  return { description: op.summary, content: { 'application/json': { schema: ref(response) } } };
}

function parametersOf(op: Operation): unknown[] {
  const path = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const query = (op.query ?? []).map((name) => {
    const { description, ...schema } = z.toJSONSchema(QUERY[name], { io: 'input' }) as Record<string, unknown>;
    delete schema.$schema;
    return { name, in: 'query', required: false, description, schema };
  });
  const headers = op.body === 'NewRequest'
    ? [{ name: 'Idempotency-Key', in: 'header', required: false, description: '1..200 printable ASCII characters, scoped to the project; a repeat answers 200 with the same request', schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' } }]
    : [];
  return [...path, ...query, ...headers];
}

const SECURITY: Record<Auth, unknown[]> = { none: [], admin: [{ bearer: [] }], project: [{ bearer: [] }], optional: [{}, { bearer: [] }] };
const AUTH_NOTE: Record<Auth, string> = {
  none: 'Public.',
  admin: 'The admin token.',
  project: "The project's API key (`gwk_…`) or the admin token.",
  optional: 'Public; `?full=true` needs the admin token.',
};

function buildPaths(): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    paths[op.path] ??= {};
    paths[op.path][op.method] = {
      operationId: `${op.method}${op.path.replace(/\{(\w+)\}/g, 'By-$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: op.summary,
      description: AUTH_NOTE[op.auth],
      tags: [op.tag],
      parameters: parametersOf(op),
      security: SECURITY[op.auth],
      ...(op.body ? { requestBody: { required: op.body !== 'NewRequest', content: { 'application/json': { schema: ref(op.body) } } } } : {}),
      responses: {
        [op.success]: successResponse(op, op.response),
        ...Object.fromEntries(Object.entries(op.also ?? {}).map(([status, name]) => [status, successResponse(op, name)])),
        ...errorResponses(errorCodesOf(op)),
      },
    };
  }
  return paths;
}

function componentSchemas(): Record<string, unknown> {
  const generate = (named: Record<string, z.ZodType>, io: 'input' | 'output') => {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
    const { schemas } = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}` });
    for (const schema of Object.values(schemas)) {
      delete schema.$schema;
      delete schema.$id;
    }
    return schemas;
  };
  return { ...generate(RESPONSES, 'output'), ...generate(BODIES, 'input') };
}

/** Path templates as the document names them, by method, e.g. `get /v1/requests/{id}`. */
export const DOCUMENTED_OPERATIONS: readonly string[] = OPERATIONS.map((op) => `${op.method} ${op.path}`);

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Gateway HTTP API',
    version: '1',
    description: 'Verifiable off-chain JavaScript execution. Every error is `{"error": {"code", "message", "details?"}}`; the guide is docs/api.md.',
  },
  tags: [
    { name: 'Projects', description: 'Projects, code versions, secrets, chain bindings and schedules' },
    { name: 'Requests', description: 'Requests, their results and receipts' },
    { name: 'Nodes', description: 'Executor nodes' },
    { name: 'Ledger', description: 'Rounds and the hash-chained ledger' },
    { name: 'Exports', description: 'Retention exports' },
    { name: 'Operations', description: 'Probes, metrics and pages' },
  ],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The admin token (GATEWAY_ADMIN_TOKEN) or a project API key (gwk_…)' } },
    schemas: componentSchemas(),
  },
  paths: buildPaths(),
};
