// The HTTP API (API.md) as an OpenAPI 3.1 document, served at GET /openapi.json.

type Op = [method: string, path: string, summary: string, auth: 'admin' | 'project' | 'none', success: number];

const OPERATIONS: Op[] = [
  ['post', '/v1/projects', 'Create a project (returns its API key once)', 'admin', 201],
  ['get', '/v1/projects', 'List projects', 'admin', 200],
  ['get', '/v1/projects/{id}', 'Read a project', 'project', 200],
  ['delete', '/v1/projects/{id}', 'Delete a project with its code versions, secrets, schedules, API key and chain binding (409 while a request of it is open)', 'project', 204],
  ['post', '/v1/projects/{id}/api-key', 'Rotate the project API key: a new one, shown once; the old one stops at once', 'project', 200],
  ['put', '/v1/projects/{id}/code', 'Add a code version', 'project', 200],
  ['get', '/v1/projects/{id}/versions', 'List code versions', 'project', 200],
  ['delete', '/v1/projects/{id}/versions/{n}', 'Delete an old code version that no open request runs', 'project', 204],
  ['get', '/v1/code/{cid}', 'Read code by content id (CIDv1 raw sha2-256)', 'none', 200],
  ['put', '/v1/projects/{id}/secrets', 'Replace the project secrets', 'project', 204],
  ['get', '/v1/projects/{id}/secrets', 'List secret names', 'project', 200],
  ['put', '/v1/projects/{id}/chain', 'Bind an on-chain project id (Archway gateway contract)', 'admin', 200],
  ['get', '/v1/projects/{id}/chain', 'Read the on-chain binding', 'project', 200],
  ['post', '/v1/projects/{id}/schedules', 'Add a cron schedule', 'project', 201],
  ['get', '/v1/projects/{id}/schedules', 'List schedules', 'project', 200],
  ['delete', '/v1/schedules/{id}', 'Delete a schedule', 'project', 204],
  ['post', '/v1/projects/{id}/requests', 'Send a request (Idempotency-Key header honoured; 409 conflict when the key was used with another input or version)', 'project', 202],
  ['get', '/v1/projects/{id}/requests', 'List requests, newest first', 'project', 200],
  ['get', '/v1/requests/{id}', 'Read a request (?wait=ms long-polls until final; 410 gone once retention removed it)', 'project', 200],
  ['get', '/v1/requests/{id}/receipt', 'The self-contained receipt of a published request, to verify offline (409 not_published / not_anchored with Retry-After before; 410 gone naming the export once retention removed it)', 'project', 200],
  ['post', '/v1/nodes', 'Register an executor node from its signed registration (`gateway node init`); 200 if already registered, 409 for a removed node or other keys', 'admin', 201],
  ['get', '/v1/nodes', 'List nodes with their vote statistics (votes, agreed, disagreed, late, missed)', 'none', 200],
  ['delete', '/v1/nodes/{id}', 'Remove a node (a tombstone: no registration revives it)', 'admin', 204],
  ['post', '/v1/nodes/{id}/readmit', 'Re-admit a removed node with the record it has (200 if already active)', 'admin', 200],
  ['get', '/v1/rounds/latest', 'The latest round with its tickets', 'none', 200],
  ['get', '/v1/rounds/{n}', 'One round with its tickets', 'none', 200],
  ['get', '/v1/ledger', 'Ledger entries after a sequence number', 'none', 200],
  ['get', '/v1/exports', 'The export mark, the ledger entries removed so far, and the exports recorded (newest first)', 'admin', 200],
  ['post', '/v1/exports', 'Record an export `gateway export` wrote (it must continue the exported range; 409 for a gap)', 'admin', 201],
  ['get', '/v1/ledger/verify', 'Verify the hash chain: entries appended since the last check (?full=true re-verifies from the first entry, admin only)', 'none', 200],
  ['get', '/healthz', 'Process alive', 'none', 200],
  ['get', '/readyz', 'Redis reachable and roles ready', 'none', 200],
  ['get', '/metrics', 'Prometheus metrics', 'none', 200],
];

const errorResponse = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };

const json = (schema: unknown) => ({ 'application/json': { schema } });
const NODE = { $ref: '#/components/schemas/Node' };
const COUNT = { type: 'integer', minimum: 0 };
const NODE_STATS = {
  type: 'object',
  required: ['votes', 'agreed', 'disagreed', 'late', 'missed'],
  description: 'votes counted (recorded before finality), of those agreed/disagreed with the agreed result, late votes (never counted), committee seats missed',
  properties: { votes: COUNT, agreed: COUNT, disagreed: COUNT, late: COUNT, missed: COUNT },
};

// Bodies whose shape a client must produce exactly, and the records that carry protocol bytes.
const REQUEST_BODIES: Record<string, unknown> = { 'post /v1/nodes': { $ref: '#/components/schemas/NodeRegistration' } };
// With an admin Redis connection, an admitted node's own Redis user, whose password is shown only here.
const NODE_ADMITTED = {
  allOf: [NODE, {
    type: 'object',
    properties: {
      redisUsername: { type: 'string', description: "the node's Redis ACL user (REDIS_USERNAME); present when the gateway created it" },
      redisPassword: { type: 'string', description: 'its password (REDIS_PASSWORD_FILE), shown this once; present when the gateway created the user' },
    },
  }],
};
const RESPONSE_BODIES: Record<string, unknown> = {
  'post /v1/nodes': NODE_ADMITTED,
  'post /v1/nodes/{id}/readmit': NODE_ADMITTED,
  'get /v1/nodes': { type: 'object', required: ['items'], properties: { items: { type: 'array', items: { allOf: [NODE, { type: 'object', required: ['stats'], properties: { stats: NODE_STATS } }] } } } },
};

const HEX32 = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const REGISTRATION_FIELDS = {
  id: { type: 'string', pattern: '^node_[0-9a-f]{20}$', description: 'derives from signPublicKey (docs/protocol.md)' },
  name: { type: 'string', maxLength: 100, description: 'signed by the registration; absent is ""' },
  signPublicKey: HEX32,
  vrfPublicKey: HEX32,
  registration: { type: 'string', pattern: '^[0-9a-f]{128}$', description: 'Ed25519 signature of signPublicKey over "gw/node/v2" || vrfPublicKey || u64be(len(name)) || name' },
};

function buildPaths(): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary, auth, success] of OPERATIONS) {
    const parameters = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] ??= {};
    paths[path][method] = {
      summary,
      parameters,
      security: auth === 'none' ? [] : [{ bearer: [] }],
      ...(REQUEST_BODIES[`${method} ${path}`] ? { requestBody: { required: true, content: json(REQUEST_BODIES[`${method} ${path}`]) } } : {}),
      responses: {
        [success]: { description: 'Success', ...(RESPONSE_BODIES[`${method} ${path}`] ? { content: json(RESPONSE_BODIES[`${method} ${path}`]) } : {}) },
        '4XX': errorResponse,
        '503': errorResponse,
      },
    };
  }
  return paths;
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Gateway HTTP API', version: '1' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array', items: { type: 'string' } } } } },
      },
      NodeRegistration: { type: 'object', required: ['signPublicKey', 'vrfPublicKey', 'registration'], additionalProperties: false, properties: REGISTRATION_FIELDS },
      Node: {
        type: 'object',
        required: ['id', 'name', 'signPublicKey', 'vrfPublicKey', 'registration', 'status', 'createdAt', 'lastTicketRound'],
        properties: {
          ...REGISTRATION_FIELDS,
          status: { type: 'string', enum: ['active', 'removed'] },
          createdAt: { type: 'string', format: 'date-time' },
          lastTicketRound: { type: ['integer', 'null'] },
        },
      },
    },
  },
  paths: buildPaths(),
};
