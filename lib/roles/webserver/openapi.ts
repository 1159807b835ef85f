// The HTTP API (API.md) as an OpenAPI 3.1 document, served at GET /openapi.json.

type Op = [method: string, path: string, summary: string, auth: 'admin' | 'project' | 'none', success: number];

const OPERATIONS: Op[] = [
  ['post', '/v1/projects', 'Create a project (returns its API key once)', 'admin', 201],
  ['get', '/v1/projects', 'List projects', 'admin', 200],
  ['get', '/v1/projects/{id}', 'Read a project', 'project', 200],
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
  ['post', '/v1/projects/{id}/requests', 'Send a request (Idempotency-Key header honoured)', 'project', 202],
  ['get', '/v1/projects/{id}/requests', 'List requests, newest first', 'project', 200],
  ['get', '/v1/requests/{id}', 'Read a request (?wait=ms long-polls until final)', 'project', 200],
  ['post', '/v1/nodes', 'Register an executor node', 'admin', 201],
  ['get', '/v1/nodes', 'List nodes', 'none', 200],
  ['delete', '/v1/nodes/{id}', 'Remove a node', 'admin', 204],
  ['get', '/v1/rounds/latest', 'The latest round with its tickets', 'none', 200],
  ['get', '/v1/rounds/{n}', 'One round with its tickets', 'none', 200],
  ['get', '/v1/ledger', 'Ledger entries after a sequence number', 'none', 200],
  ['get', '/v1/ledger/verify', 'Verify the hash chain: entries appended since the last check (?full=true re-verifies from the first entry, admin only)', 'none', 200],
  ['get', '/healthz', 'Process alive', 'none', 200],
  ['get', '/readyz', 'Redis reachable and roles ready', 'none', 200],
  ['get', '/metrics', 'Prometheus metrics', 'none', 200],
];

const errorResponse = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };

function buildPaths(): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary, auth, success] of OPERATIONS) {
    const parameters = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] ??= {};
    paths[path][method] = {
      summary,
      parameters,
      security: auth === 'none' ? [] : [{ bearer: [] }],
      responses: { [success]: { description: 'Success' }, '4XX': errorResponse, '503': errorResponse },
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
    },
  },
  paths: buildPaths(),
};
