// The bodies the Gateway API takes and returns (docs/api.md), written from the webserver's routes and views.
export type { Receipt } from '../protocol/receipt.ts';

export type Aggregation = 'exact' | 'median';
export type RequestStatus = 'queued' | 'assigned' | 'agreed' | 'published' | 'failed';
export type RequestSource = 'api' | 'schedule' | 'chain';
export type FailureCode = 'no_nodes' | 'no_quorum' | 'timeout' | 'invalid_code' | 'rejected' | 'unverified';

export interface ProjectLimits {
  readonly timeoutMs: number;
  readonly cpuMs: number;
  readonly memoryMb: number;
  readonly fetchCalls: number;
  readonly outputBytes: number;
  readonly logLines: number;
  readonly logBytes: number;
}

export interface Committee {
  readonly size: number;
  readonly quorum: number;
}

/** `POST /v1/projects`: only `name` and `code` are required; the rest default to the operator's values. */
export interface ProjectDraft {
  readonly name: string;
  readonly code: string;
  readonly description?: string;
  readonly committee?: { readonly size: number; readonly quorum?: number };
  readonly aggregation?: Aggregation;
  readonly limits?: Partial<ProjectLimits>;
}

export interface Project {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** The current code version. */
  readonly version: number;
  readonly codeCid: string;
  readonly committee: Committee;
  readonly aggregation: Aggregation;
  readonly limits: ProjectLimits;
  readonly createdAt: string;
}

/** A created project: `apiKey` is returned this once (only its hash is stored). */
export interface CreatedProject extends Project {
  readonly apiKey: string;
}

/** `POST /v1/projects/:id/api-key`: the new key, shown once; the old one stops working at once. */
export interface RotatedApiKey {
  readonly id: string;
  readonly apiKey: string;
}

/** `PUT /v1/projects/:id/code`: the version the code is now (the latest again when unchanged). */
export interface CodeUpload {
  readonly version: number;
  readonly codeCid: string;
}

export interface CodeVersion extends CodeUpload {
  readonly createdAt: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

export interface ListOptions {
  /** 1..500, default 50. */
  readonly limit?: number;
  readonly cursor?: string;
}

export interface SendRequestOptions {
  /** Any JSON value (default null). */
  readonly input?: unknown;
  /** An older code version (default: the current one). */
  readonly version?: number;
  /** Same key and same body: the same request back (200); same key, other body: 409 conflict. */
  readonly idempotencyKey?: string;
}

export interface AcceptedRequest {
  readonly id: string;
  readonly status: RequestStatus;
  /** False when an `Idempotency-Key` repeat answered with the request it already made (HTTP 200). */
  readonly isCreated: boolean;
}

export interface RequestVote {
  readonly nodeId: string;
  readonly ok: boolean;
  readonly resultHash: string;
  readonly signature: string;
  /** Absent once retention dropped a late vote's value (`valueDropped`). */
  readonly value?: unknown;
  /** Recorded after the request was agreed, failed or published: it never counts. */
  readonly late: boolean;
  /** The node's captured log lines; absent once retention dropped them. */
  readonly logs?: readonly string[];
  readonly valueDropped?: true;
}

export interface GatewayRequest {
  readonly id: string;
  readonly projectId: string;
  readonly version: number;
  readonly codeCid: string;
  readonly source: RequestSource;
  readonly status: RequestStatus;
  readonly input: unknown;
  readonly createdAt: string;
  /** Once agreed. */
  readonly ok?: boolean;
  readonly resultHash?: string;
  /** The agreed value, when `ok`. */
  readonly result?: unknown;
  /** The agreed error message, when not `ok`. */
  readonly error?: string;
  readonly failure?: { readonly code: FailureCode; readonly message: string };
  /** Once assigned. */
  readonly round?: number;
  readonly committee?: readonly string[];
  readonly quorum?: number;
  readonly aggregation?: Aggregation;
  readonly votes?: readonly RequestVote[];
  /** Once published. */
  readonly ledger?: { readonly seq: number; readonly hash: string };
  readonly origin?: { readonly chainProjectId: number; readonly reqId: number; readonly user: string; readonly input: string };
  readonly chain?: { readonly status: 'pending' | 'broadcast' | 'committed' | 'failed'; readonly txHash?: string; readonly height?: number; readonly error?: string; readonly attempts: number };
  readonly finishedAt?: string;
}

export interface ScheduleDraft {
  /** 5 or 6 fields (docs/api.md, "Schedules"). */
  readonly cron: string;
  readonly input?: unknown;
  /** Pins the code version every tick runs (default: the latest at each tick). */
  readonly version?: number;
  /** The IANA zone the fields are read in (default UTC). */
  readonly timezone?: string;
}

export interface Schedule {
  readonly id: string;
  readonly projectId: string;
  /** As stored: ends trimmed, whitespace runs collapsed. */
  readonly cron: string;
  readonly input: unknown;
  readonly version?: number;
  readonly timezone?: string;
  readonly createdAt: string;
  readonly nextRunAt: string | null;
}

export interface ListedSchedule extends Schedule {
  readonly refusedTicks: number;
  readonly lastRefusal?: { readonly at: string; readonly reason: string };
}

export interface NodeStats {
  readonly votes: number;
  readonly agreed: number;
  readonly disagreed: number;
  readonly late: number;
  readonly missed: number;
}

export interface GatewayNode {
  readonly id: string;
  readonly name: string;
  readonly signPublicKey: string;
  readonly vrfPublicKey: string;
  readonly registration: string;
  readonly status: 'active' | 'removed';
  readonly createdAt: string;
  readonly lastTicketRound: number | null;
  readonly stats: NodeStats;
}
