// A typed client for the Gateway's HTTP API (docs/api.md): one method per route a developer uses,
// every refusal a GatewayApiError with the API's status, code and message.
import { GatewayApiError, type GatewayApiErrorCode } from './errors.ts';
import type {
  AcceptedRequest, CodeUpload, CodeVersion, CreatedProject, GatewayNode, GatewayRequest, ListedSchedule, ListOptions,
  Page, Project, ProjectDraft, Receipt, RotatedApiKey, Schedule, ScheduleDraft, SendRequestOptions,
} from './types.ts';

export interface GatewayClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** A project key (`gwk_…`) or the admin token; omitted for public routes only. */
  readonly token?: string;
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** How long one call may take before it fails with `unreachable` (a long-poll adds its wait). Default 30 s. */
  readonly timeoutMs?: number;
}

export interface GatewayClient {
  readonly url: string;
  /** Admin token. The reply carries the project's API key, this once. */
  createProject(draft: ProjectDraft): Promise<CreatedProject>;
  /** Admin token; newest first. */
  listProjects(options?: ListOptions): Promise<Page<Project>>;
  getProject(projectId: string): Promise<Project>;
  /** Removes the project with its versions, secrets, schedules and key; 409 while a request of it is open. */
  deleteProject(projectId: string): Promise<void>;
  /** A new project key, shown once; the old one stops working at once. */
  rotateApiKey(projectId: string): Promise<RotatedApiKey>;
  /** Adds a version after the code check (the latest code again adds nothing and answers its version). */
  updateCode(projectId: string, code: string): Promise<CodeUpload>;
  listVersions(projectId: string): Promise<readonly CodeVersion[]>;
  deleteVersion(projectId: string, version: number): Promise<void>;
  /** Public: the JavaScript stored under a content id. */
  getCode(codeCid: string): Promise<string>;
  createRequest(projectId: string, options?: SendRequestOptions): Promise<AcceptedRequest>;
  /** `waitMs` (0..30000) long-polls until the request is `published` or `failed`, or the time is up. */
  getRequest(requestId: string, options?: { readonly waitMs?: number }): Promise<GatewayRequest>;
  /** Newest first. */
  listRequests(projectId: string, options?: ListOptions): Promise<Page<GatewayRequest>>;
  /** 409 `not_published`/`not_anchored` until a round anchors the request's ledger entry. */
  getReceipt(requestId: string): Promise<Receipt>;
  /** Replaces the whole set; values are sealed and never returned. */
  putSecrets(projectId: string, secrets: Readonly<Record<string, string>>): Promise<void>;
  listSecrets(projectId: string): Promise<readonly string[]>;
  createSchedule(projectId: string, draft: ScheduleDraft): Promise<Schedule>;
  listSchedules(projectId: string): Promise<readonly ListedSchedule[]>;
  deleteSchedule(scheduleId: string): Promise<void>;
  /** Public. */
  listNodes(): Promise<readonly GatewayNode[]>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

interface Call {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly extraTimeoutMs?: number;
}

/** A client for the gateway at `options.url`; it holds no connection of its own. */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const base = parseBaseUrl(options.url);
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function send(call: Call): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await doFetch(new URL(call.path, base), {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: AbortSignal.timeout(timeoutMs + (call.extraTimeoutMs ?? 0)),
      });
    } catch (error) {
      throw new GatewayApiError({ status: 0, code: 'unreachable', message: `${base.origin} is unreachable (${reasonOf(error)})`, cause: error });
    }
    if (!response.ok) throw await toApiError(response);
    return response;
  }

  async function json<T>(call: Call): Promise<T> {
    const response = await send(call);
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw new GatewayApiError({ status: response.status, code: 'invalid_response', message: `${call.method} ${call.path}: the answer is not JSON`, cause: error });
    }
  }

  async function none(call: Call): Promise<void> {
    const response = await send(call);
    await response.body?.cancel();
  }

  const project = (id: string) => `/v1/projects/${encodeURIComponent(id)}`;
  return {
    url: base.href,
    createProject: (draft) => json({ method: 'POST', path: '/v1/projects', body: draft }),
    listProjects: (list) => json({ method: 'GET', path: `/v1/projects${listQuery(list)}` }),
    getProject: (id) => json({ method: 'GET', path: project(id) }),
    deleteProject: (id) => none({ method: 'DELETE', path: project(id) }),
    rotateApiKey: (id) => json({ method: 'POST', path: `${project(id)}/api-key` }),
    updateCode: (id, code) => json({ method: 'PUT', path: `${project(id)}/code`, body: { code } }),
    listVersions: async (id) => (await json<{ items: CodeVersion[] }>({ method: 'GET', path: `${project(id)}/versions` })).items,
    deleteVersion: (id, version) => none({ method: 'DELETE', path: `${project(id)}/versions/${version}` }),
    getCode: async (cid) => (await send({ method: 'GET', path: `/v1/code/${encodeURIComponent(cid)}` })).text(),
    async createRequest(id, request = {}) {
      const response = await sendRequest(id, request);
      const body = (await response.json()) as { id: string; status: AcceptedRequest['status'] };
      return { id: body.id, status: body.status, isCreated: response.status === 202 };
    },
    getRequest: (id, read = {}) => {
      const waitMs = read.waitMs ?? 0;
      return json({ method: 'GET', path: `/v1/requests/${encodeURIComponent(id)}${waitMs > 0 ? `?wait=${waitMs}` : ''}`, extraTimeoutMs: waitMs });
    },
    listRequests: (id, list) => json({ method: 'GET', path: `${project(id)}/requests${listQuery(list)}` }),
    getReceipt: (id) => json({ method: 'GET', path: `/v1/requests/${encodeURIComponent(id)}/receipt` }),
    putSecrets: (id, secrets) => none({ method: 'PUT', path: `${project(id)}/secrets`, body: secrets }),
    listSecrets: async (id) => (await json<{ items: { name: string }[] }>({ method: 'GET', path: `${project(id)}/secrets` })).items.map((item) => item.name),
    createSchedule: (id, draft) => json({ method: 'POST', path: `${project(id)}/schedules`, body: draft }),
    listSchedules: async (id) => (await json<{ items: ListedSchedule[] }>({ method: 'GET', path: `${project(id)}/schedules` })).items,
    deleteSchedule: (id) => none({ method: 'DELETE', path: `/v1/schedules/${encodeURIComponent(id)}` }),
    listNodes: async () => (await json<{ items: GatewayNode[] }>({ method: 'GET', path: '/v1/nodes' })).items,
  };

  function sendRequest(id: string, request: SendRequestOptions): Promise<Response> {
    const body: { input: unknown; version?: number } = { input: request.input ?? null };
    if (request.version !== undefined) body.version = request.version;
    const headers: Record<string, string> = request.idempotencyKey === undefined ? {} : { 'idempotency-key': request.idempotencyKey };
    return send({ method: 'POST', path: `${project(id)}/requests`, body, headers });
  }
}

function parseBaseUrl(url: string): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new TypeError(`the gateway URL is not a URL: ${url.slice(0, 100)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`the gateway URL must be http(s), got ${base.protocol}`);
  return base;
}

function listQuery(options: ListOptions = {}): string {
  const query = new URLSearchParams();
  if (options.limit !== undefined) query.set('limit', String(options.limit));
  if (options.cursor !== undefined) query.set('cursor', options.cursor);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

// The error envelope `{"error": {code, message, details?}}`, or what the answer was instead.
async function toApiError(response: Response): Promise<GatewayApiError> {
  const text = await response.text().catch(() => '');
  let envelope: { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined;
  try {
    envelope = JSON.parse(text) as typeof envelope;
  } catch {
    envelope = undefined;
  }
  const error = envelope?.error;
  const retryAfter = Number(response.headers.get('retry-after') ?? NaN);
  const requestId = response.headers.get('x-request-id') ?? undefined;
  const common = { status: response.status, requestId, ...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}) };
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
    return new GatewayApiError({ ...common, code: 'invalid_response', message: `HTTP ${response.status} without the API's error body` });
  }
  const details = Array.isArray(error.details) ? error.details.filter((d): d is string => typeof d === 'string') : undefined;
  return new GatewayApiError({ ...common, code: error.code as GatewayApiErrorCode, message: error.message, details });
}

function reasonOf(error: unknown): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'timed out';
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
