// A small in-memory model of the D3LAB gateway CosmWasm contract (2023): PascalCase messages, projects with pending requests and results.

/** A request the contract holds as pending: `{ req_id, user, input }`. */
export interface PendingRequest {
  req_id: number;
  user: string;
  input: string;
}

/** A stored result: `{ req_id, user, request, result }` (`request` echoes the pending request's input). */
export interface ResultEntry {
  req_id: number;
  user: string;
  request: string;
  result: string;
}

/** One project as `{"ProjectInfo": {id}}` answers it. */
export interface Project {
  id: number;
  github_addr: string;
  description: string;
  owner: string;
  request: PendingRequest[];
  result: ResultEntry[];
}

/** A wasm event attribute the contract emits. */
export interface ContractAttribute {
  readonly key: string;
  readonly value: string;
}

/** What a successful execute returns: the attributes of its `wasm` event. */
export interface ExecuteOutcome {
  readonly attributes: readonly ContractAttribute[];
}

/** An error the contract returns (a real chain turns it into a failed tx or a failed query). */
export class ContractError extends Error {
  override readonly name = 'ContractError';
}

type Raw = Record<string, unknown>;

const EXECUTE_VARIANTS = ['CreateProjectMsg', 'ResultRequestMsg', 'SaveResultMsg'];
const QUERY_VARIANTS = ['Config', 'RequestIDInfo', 'ProjectInfo'];

/** Splits `{"Variant": {...}}` into its name and body, failing like serde does on anything else. */
function variant(msg: unknown, type: string, known: readonly string[]): [string, Raw] {
  const expected = known.map((k) => `\`${k}\``).join(', ');
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new ContractError(`Error parsing into type ${type}: Invalid type`);
  const keys = Object.keys(msg);
  if (keys.length !== 1) throw new ContractError(`Error parsing into type ${type}: expected a single variant, got ${keys.length} keys`);
  const name = keys[0]!;
  if (!known.includes(name)) throw new ContractError(`Error parsing into type ${type}: unknown variant \`${name}\`, expected one of ${expected}`);
  const body = (msg as Raw)[name];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ContractError(`Error parsing into type ${type}: Invalid type`);
  return [name, body as Raw];
}

function str(body: Raw, field: string, type: string): string {
  const value = body[field];
  if (value === undefined) throw new ContractError(`Error parsing into type ${type}: missing field \`${field}\``);
  if (typeof value !== 'string') throw new ContractError(`Error parsing into type ${type}: invalid type for \`${field}\`, expected a string`);
  return value;
}

function int(body: Raw, field: string, type: string): number {
  const value = body[field];
  if (value === undefined) throw new ContractError(`Error parsing into type ${type}: missing field \`${field}\``);
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ContractError(`Error parsing into type ${type}: invalid type for \`${field}\`, expected an integer`);
  return value;
}

/**
 * The contract's state and entry points. `execute` and `query` take the parsed JSON message and either answer or
 * throw a `ContractError`; `execute` mutates in place, so run a tx on a `clone()` and keep it only if every message succeeds.
 */
export class ContractModel {
  /** The contract owner's address (as `Config` reports it). */
  owner: string;
  /** How many projects exist; project ids run from 1 to `count`. */
  count = 0;
  /** Projects by id. */
  readonly projects = new Map<number, Project>();
  /** The per-project request counter (the last req_id handed out). */
  readonly counters = new Map<number, number>();

  constructor(owner: string) {
    this.owner = owner;
  }

  /** A deep copy: state changes on the copy leave this model alone. */
  clone(): ContractModel {
    const copy = new ContractModel(this.owner);
    copy.count = this.count;
    for (const [id, p] of this.projects) copy.projects.set(id, { ...p, request: p.request.map((r) => ({ ...r })), result: p.result.map((r) => ({ ...r })) });
    for (const [id, n] of this.counters) copy.counters.set(id, n);
    return copy;
  }

  /** Replaces this model's state with another's (used to commit a tx that ran on a clone). */
  adopt(other: ContractModel): void {
    this.owner = other.owner;
    this.count = other.count;
    this.projects.clear();
    for (const [id, p] of other.clone().projects) this.projects.set(id, p);
    this.counters.clear();
    for (const [id, n] of other.counters) this.counters.set(id, n);
  }

  /** Runs one execute message sent by `sender`; throws a `ContractError` without changing state on failure. */
  execute(msg: unknown, _sender: string): ExecuteOutcome {
    const type = 'gateway::msg::ExecuteMsg';
    const [name, body] = variant(msg, type, EXECUTE_VARIANTS);
    if (name === 'CreateProjectMsg') {
      const id = this.createProject(str(body, 'owner', type), str(body, 'github_addr', type), str(body, 'description', type));
      return { attributes: [{ key: 'method', value: 'create_project' }, { key: 'id', value: String(id) }] };
    }
    if (name === 'ResultRequestMsg') {
      const id = int(body, 'id', type);
      const reqId = this.requestResult(id, str(body, 'user', type), str(body, 'input', type));
      return { attributes: [{ key: 'method', value: 'result_request' }, { key: 'project_id', value: String(id) }, { key: 'req_id', value: String(reqId) }] };
    }
    const projectId = int(body, 'project_id', type);
    const reqId = int(body, 'req_id', type);
    this.saveResult(projectId, reqId, str(body, 'user', type), str(body, 'request', type), str(body, 'result', type));
    return { attributes: [{ key: 'method', value: 'save_result' }, { key: 'project_id', value: String(projectId) }, { key: 'req_id', value: String(reqId) }] };
  }

  /** Answers one smart query; throws a `ContractError` on a bad query or an unknown project. */
  query(msg: unknown): unknown {
    const type = 'gateway::msg::QueryMsg';
    const [name, body] = variant(msg, type, QUERY_VARIANTS);
    if (name === 'Config') return { owner: this.owner, count: this.count };
    const id = int(body, 'id', type);
    if (name === 'RequestIDInfo') return { project_id: id, req_id: this.counters.get(id) ?? 0 };
    return structuredClone(this.mustProject(id));
  }

  /** Creates a project directly (as `CreateProjectMsg` does) and returns its id. */
  createProject(owner: string, githubAddr: string, description: string): number {
    const id = this.count + 1;
    this.count = id;
    this.projects.set(id, { id, github_addr: githubAddr, description, owner, request: [], result: [] });
    this.counters.set(id, 0);
    return id;
  }

  /** Adds a pending request directly (as `ResultRequestMsg` does) and returns its req_id. */
  requestResult(projectId: number, user: string, input: string): number {
    const project = this.mustProject(projectId);
    const reqId = (this.counters.get(projectId) ?? 0) + 1;
    this.counters.set(projectId, reqId);
    project.request.push({ req_id: reqId, user, input });
    return reqId;
  }

  /** Stores a result and removes the pending request (as `SaveResultMsg` does). */
  saveResult(projectId: number, reqId: number, user: string, request: string, result: string): void {
    const project = this.mustProject(projectId);
    const index = project.request.findIndex((r) => r.req_id === reqId);
    if (index < 0) throw new ContractError(`request ${reqId} of project ${projectId} is not pending`);
    project.request.splice(index, 1);
    project.result.push({ req_id: reqId, user, request, result });
  }

  /** The live project object, or undefined. */
  project(id: number): Project | undefined {
    return this.projects.get(id);
  }

  private mustProject(id: number): Project {
    const project = this.projects.get(id);
    if (!project) throw new ContractError(`project ${id} not found`);
    return project;
  }
}
