// The gateway contract's message schema behind one small adapter: the sender and the inputter
// speak `ContractSchema`; a second contract version is one more entry in SCHEMAS.

/** A request the contract holds as pending. */
export interface PendingChainRequest {
  readonly reqId: number;
  readonly user: string;
  readonly input: string;
}

/** What the contract holds for one project, in schema-neutral form. */
export interface ChainProjectState {
  readonly id: number;
  readonly pending: readonly PendingChainRequest[];
  /** req_ids the contract already holds a result for. */
  readonly answered: ReadonlySet<number>;
}

/** One result to save. `request` is the pending request's input, echoed as the contract expects. */
export interface ChainResult {
  readonly projectId: number;
  readonly reqId: number;
  readonly user: string;
  readonly request: string;
  readonly result: string;
}

export interface ContractSchema {
  projectInfoQuery(projectId: number): Record<string, unknown>;
  parseProjectInfo(response: unknown): ChainProjectState;
  saveResultMsg(result: ChainResult): Record<string, unknown>;
}

type Raw = Record<string, unknown>;

function asNumber(value: unknown, what: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Error(`contract answered a non-integer ${what}`);
  return n;
}

function parseWith(keys: { id: string; requests: string; results: string; reqId: string }) {
  return (response: unknown): ChainProjectState => {
    const project = (response ?? {}) as Raw;
    const requests = Array.isArray(project[keys.requests]) ? (project[keys.requests] as Raw[]) : [];
    const results = Array.isArray(project[keys.results]) ? (project[keys.results] as Raw[]) : [];
    return {
      id: asNumber(project[keys.id], 'project id'),
      pending: requests.map((r) => ({ reqId: asNumber(r[keys.reqId], 'req_id'), user: String(r.user ?? ''), input: String(r.input ?? '') })),
      answered: new Set(results.map((r) => asNumber(r[keys.reqId], 'req_id'))),
    };
  };
}

/** The public D3LAB gateway contract (2023): PascalCase message names. */
const D3LAB_2023: ContractSchema = {
  projectInfoQuery: (id) => ({ ProjectInfo: { id } }),
  parseProjectInfo: parseWith({ id: 'id', requests: 'request', results: 'result', reqId: 'req_id' }),
  saveResultMsg: (r) => ({ SaveResultMsg: { project_id: r.projectId, user: r.user, request: r.request, req_id: r.reqId, result: r.result } }),
};

/** A later contract version with CosmWasm's usual snake_case message names. */
const SNAKE_V2: ContractSchema = {
  projectInfoQuery: (id) => ({ project_info: { id } }),
  parseProjectInfo: parseWith({ id: 'id', requests: 'request', results: 'result', reqId: 'req_id' }),
  saveResultMsg: (r) => ({ save_result: { project_id: r.projectId, user: r.user, request: r.request, req_id: r.reqId, result: r.result } }),
};

export const SCHEMAS = { 'd3lab-2023': D3LAB_2023, 'snake-v2': SNAKE_V2 } as const satisfies Record<string, ContractSchema>;
export type SchemaName = keyof typeof SCHEMAS;
