// The records the repository stores, as the roles and the API see them.
import type { HashedLedgerEntry } from '../protocol/ledger.ts';
import type { RequestStatus } from '../protocol/request-lifecycle.ts';
import type { Vote } from '../protocol/vote.ts';
import type { Aggregation } from '../protocol/vote-tally.ts';

// The lifecycle owns the statuses; re-exported for the code that reads them with the records.
export { FINAL_STATUSES, REQUEST_STATUSES, type RequestStatus } from '../protocol/request-lifecycle.ts';

export const FAILURE_CODES = ['no_nodes', 'no_quorum', 'timeout', 'invalid_code', 'rejected', 'unverified'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export type RequestSource = 'api' | 'schedule' | 'chain';

export interface ProjectLimits {
  readonly timeoutMs: number;
  readonly cpuMs: number;
  readonly memoryMb: number;
  readonly fetchCalls: number;
  readonly outputBytes: number;
  readonly logLines: number;
  readonly logBytes: number;
}

export interface Project {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly committee: { readonly size: number; readonly quorum: number };
  readonly aggregation: Aggregation;
  readonly limits: ProjectLimits;
  readonly version: number;
  readonly codeCid: string;
  readonly createdAt: string;
}

export interface CodeVersion {
  readonly version: number;
  readonly codeCid: string;
  readonly createdAt: string;
}

export interface Assignment {
  readonly round: number;
  /** seed_a, hex: ctx.seed derives from it. */
  readonly roundSeed: string;
  readonly committee: readonly string[];
  readonly quorum: number;
  readonly aggregation: Aggregation;
  readonly assignedAt: string;
}

export interface Outcome {
  readonly ok: boolean;
  readonly value: unknown;
  readonly resultHash: string;
  readonly supporters: readonly string[];
  readonly agreedAt: string;
}

export interface Failure {
  readonly code: FailureCode;
  readonly message: string;
}

/**
 * A vote as consensus recorded it: the signed fields, its arrival order (0-based) and the node's logs.
 * `late`: recorded after finality (the request was agreed, failed or published); it never counts.
 * `valueDropped`: a late vote whose value (and logs) retention's compaction dropped; `value` is undefined.
 */
export type StoredVote = Omit<Vote, 'requestId'> & { readonly seq: number; readonly logs?: readonly string[]; readonly late?: boolean; readonly valueDropped?: boolean };

/** Where a chain request came from: the contract's project, request number, user and input. */
export interface ChainOrigin {
  readonly chainProjectId: number;
  readonly reqId: number;
  readonly user: string;
  readonly input: string;
}

/** How far a chain request's result got on its way to the contract. */
export interface ChainPublication {
  readonly status: 'pending' | 'broadcast' | 'committed' | 'failed';
  readonly txHash?: string;
  readonly height?: number;
  readonly error?: string;
  readonly attempts: number;
}

export interface RequestRecord {
  readonly id: string;
  readonly projectId: string;
  readonly version: number;
  readonly codeCid: string;
  readonly source: RequestSource;
  readonly input: unknown;
  readonly createdAt: string;
  readonly status: RequestStatus;
  readonly assignment?: Assignment;
  readonly outcome?: Outcome;
  readonly failure?: Failure;
  readonly ledger?: { readonly seq: number; readonly hash: string };
  readonly origin?: ChainOrigin;
  readonly chain?: ChainPublication;
  readonly finishedAt?: string;
  readonly votes: readonly StoredVote[];
}

export interface NodeRecord {
  readonly id: string;
  readonly name: string;
  readonly signPublicKey: string;
  readonly vrfPublicKey: string;
  /** Hex Ed25519 signature of the signing key over the v2 registration bytes (VRF key and name). */
  readonly registration: string;
  readonly status: 'active' | 'removed';
  readonly createdAt: string;
  readonly lastTicketRound?: number;
}

/** A round record v2: its seed and proof, and what it committed to when it started (hex where bytes). */
export interface RoundRecord {
  readonly round: number;
  readonly seed: string;
  readonly proof: string;
  /** The frozen ticket set of the previous round, as its root. */
  readonly ticketsRoot: string;
  /** The ledger's length and head hash when the round started. */
  readonly ledgerLength: number;
  readonly ledgerHead: string;
  readonly startedAt: string;
  readonly frozen: boolean;
}

export interface TicketRecord {
  readonly nodeId: string;
  readonly beta: string;
  readonly proof: string;
}

export type LedgerEntry = HashedLedgerEntry;

export interface Schedule {
  readonly id: string;
  readonly projectId: string;
  readonly cron: string;
  readonly input: unknown;
  /** The code version every tick runs; absent: the project's latest at each tick. */
  readonly version?: number;
  /** The IANA time zone the cron fields are read in; absent: UTC. */
  readonly timezone?: string;
  readonly createdAt: string;
}

/** Ticks of a schedule that admission refused (the project had too many open requests). */
export interface ScheduleRefusals {
  readonly refusedTicks: number;
  readonly lastRefusal?: { readonly at: string; readonly reason: string };
}

/** A page of a list: `nextCursor` is null on the last page. */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}
