// The API's response bodies as zod schemas (views.ts and the routes build them; docs/api.md
// describes them): /openapi.json is generated from these, and the conformance test checks live answers.
import { z } from 'zod';
import { FAILURE_CODES, REQUEST_STATUSES } from '../../repository/types.ts';
import { AGGREGATIONS } from '../../protocol/vote-tally.ts';
import { LIMIT_NAMES } from '../../limits.ts';

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const HASH = hex(32);
const TIME = z.iso.datetime();
const COUNT = z.int().min(0);
const id = (kind: 'prj' | 'req' | 'sch') => z.string().regex(new RegExp(`^${kind}_[0-9a-z]{26}$`));
const NODE_ID = z.string().regex(/^node_[0-9a-f]{20}$/);
const CID = z.string().min(1).meta({ description: 'CIDv1 (raw, sha2-256) of the code' });
const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable().meta({ description: 'null on the last page' }) });

export const Project = z.object({
  id: id('prj'),
  name: z.string(),
  description: z.string(),
  version: z.int().min(1).meta({ description: 'the current code version' }),
  codeCid: CID,
  committee: z.object({ size: z.int().min(1), quorum: z.int().min(1) }),
  aggregation: z.enum(AGGREGATIONS),
  limits: z.object(Object.fromEntries(LIMIT_NAMES.map((name) => [name, COUNT])) as Record<(typeof LIMIT_NAMES)[number], typeof COUNT>),
  createdAt: TIME,
});
export const ProjectCreated = Project.extend({ apiKey: z.string().regex(/^gwk_/).meta({ description: 'shown this once; only its SHA-256 is stored' }) });
export const ProjectPage = page(Project);
export const ApiKey = z.object({ id: id('prj'), apiKey: ProjectCreated.shape.apiKey });
export const CodeVersion = z.object({ version: z.int().min(1), codeCid: CID });
export const CodeVersionList = z.object({ items: z.array(CodeVersion.extend({ createdAt: TIME })) });
export const SecretNames = z.object({ items: z.array(z.object({ name: z.string() })) });
export const ChainBinding = z.object({ projectId: id('prj'), chainProjectId: z.int().min(1).nullable().meta({ description: 'null when unbound' }) });

export const Schedule = z.object({
  id: id('sch'),
  projectId: id('prj'),
  cron: z.string().meta({ description: 'as stored: ends trimmed, whitespace runs collapsed' }),
  input: z.unknown(),
  version: z.int().min(1).optional().meta({ description: 'the pinned code version; absent: the latest at each tick' }),
  timezone: z.string().optional().meta({ description: 'absent: UTC' }),
  createdAt: TIME,
  nextRunAt: TIME.nullable(),
});
export const ScheduleList = z.object({
  items: z.array(Schedule.extend({
    refusedTicks: COUNT.meta({ description: 'ticks admission refused (the project at its in-flight cap)' }),
    lastRefusal: z.object({ at: TIME, reason: z.string() }).optional(),
  })),
});

export const RequestAccepted = z.object({ id: id('req'), status: z.enum(REQUEST_STATUSES) });
const LEDGER_REF = z.object({ seq: z.int().min(1), hash: HASH });
export const Request = z.object({
  id: id('req'),
  projectId: id('prj'),
  version: z.int().min(1),
  codeCid: CID,
  source: z.enum(['api', 'schedule', 'chain']),
  status: z.enum(REQUEST_STATUSES),
  input: z.unknown().meta({ description: 'null for a request rejected for its input' }),
  ok: z.boolean().optional().meta({ description: 'once agreed' }),
  resultHash: HASH.optional(),
  result: z.unknown().optional().meta({ description: 'the agreed value, when ok' }),
  error: z.string().optional().meta({ description: 'the agreed error message, when not ok' }),
  failure: z.object({ code: z.enum(FAILURE_CODES), message: z.string() }).optional(),
  round: z.int().min(1).optional(),
  committee: z.array(NODE_ID).optional(),
  quorum: z.int().min(1).optional(),
  aggregation: z.enum(AGGREGATIONS).optional(),
  votes: z.array(z.object({
    nodeId: NODE_ID,
    ok: z.boolean(),
    resultHash: HASH,
    signature: hex(64),
    value: z.unknown().optional().meta({ description: 'absent once retention dropped a late vote\'s value' }),
    late: z.boolean().meta({ description: 'arrived after finality: never counted' }),
    logs: z.array(z.string()).optional(),
    valueDropped: z.literal(true).optional(),
  })).optional().meta({ description: 'the recorded votes in arrival order, once assigned' }),
  ledger: LEDGER_REF.optional().meta({ description: 'once published' }),
  origin: z.object({ chainProjectId: z.int(), reqId: z.int(), user: z.string(), input: z.string() }).optional(),
  chain: z.object({
    status: z.enum(['pending', 'broadcast', 'committed', 'failed']),
    txHash: z.string().optional(),
    height: z.int().optional(),
    error: z.string().optional(),
    attempts: COUNT,
  }).optional(),
  createdAt: TIME,
  finishedAt: TIME.optional(),
});
export const RequestPage = page(Request);

/** Loosely: the top-level fields; docs/protocol.md ("Receipt") and `gateway verify` define the rest. */
export const Receipt = z.looseObject({
  version: z.int(),
  request: z.looseObject({ id: id('req'), projectId: id('prj') }),
  result: z.looseObject({ ok: z.boolean(), resultHash: HASH }),
  assignment: z.looseObject({ round: z.int(), committee: z.array(NODE_ID) }),
  previousSeed: z.string(),
  rounds: z.array(z.looseObject({ round: z.int() })),
  tickets: z.array(z.looseObject({ nodeId: NODE_ID })),
  nodes: z.array(z.looseObject({ id: NODE_ID })),
  votes: z.array(z.looseObject({ nodeId: NODE_ID })),
  ledger: z.looseObject({ entry: z.looseObject({ seq: z.int() }), chain: z.array(z.looseObject({})) }),
  counterPublicKey: HASH.nullable(),
});

const REGISTERED = {
  id: NODE_ID,
  name: z.string().max(100),
  signPublicKey: HASH,
  vrfPublicKey: HASH,
  registration: hex(64),
};
export const Node = z.object({ ...REGISTERED, status: z.enum(['active', 'removed']), createdAt: TIME, lastTicketRound: z.int().nullable() });
export const NodeAdmitted = Node.extend({
  redisUsername: z.string().optional().meta({ description: "the node's Redis ACL user (REDIS_USERNAME); present when the gateway created it" }),
  redisPassword: z.string().optional().meta({ description: 'its password (REDIS_PASSWORD_FILE), shown this once; present when the gateway created the user' }),
});
export const NodeStats = z.object({ votes: COUNT, agreed: COUNT, disagreed: COUNT, late: COUNT, missed: COUNT })
  .meta({ description: 'votes counted (recorded before finality), of those agreed/disagreed with the agreed result, late votes (never counted), committee seats missed' });
export const NodeList = z.object({ items: z.array(Node.extend({ stats: NodeStats })) });

export const Round = z.object({
  round: z.int().min(1),
  seed: HASH,
  proof: hex(80),
  ticketsRoot: HASH,
  ledgerLength: COUNT,
  ledgerHead: HASH,
  counterPublicKey: HASH.nullable().meta({ description: 'null when the webserver lacks GATEWAY_COUNTER_KEY' }),
  startedAt: TIME,
  frozen: z.boolean(),
  tickets: z.array(z.object({ nodeId: NODE_ID, beta: hex(64), proof: hex(80) })),
  removed: z.literal(true).optional().meta({ description: 'the newest round retention removed, kept as the anchor (no tickets)' }),
});

export const LedgerEntry = z.object({
  seq: z.int().min(1), requestId: id('req'), projectId: id('prj'), codeCid: CID, inputHash: HASH, createdAt: TIME, round: z.int().min(1),
  k: z.int().min(1), q: z.int().min(1), aggregation: z.enum(AGGREGATIONS), ok: z.boolean(), resultHash: HASH, votesDigest: HASH, prevHash: HASH, hash: HASH,
});
export const LedgerPage = page(LedgerEntry);
const ANCHOR = z.object({ round: z.int(), ledgerLength: COUNT, ok: z.boolean(), reason: z.enum(['bad_round_proof', 'head_mismatch']).optional() });
const LEDGER_BASE = z.object({ seq: COUNT, hash: HASH }).meta({ description: 'entries up to seq are in the exports; the check starts from hash' });
export const LedgerCheck = z.object({
  ok: z.boolean(),
  length: COUNT,
  head: HASH,
  pending: z.int().min(1).optional().meta({ description: 'entries left for the next calls' }),
  badSeq: z.int().min(1).optional().meta({ description: 'when not ok: the first entry that breaks the chain' }),
  anchor: ANCHOR.optional(),
  base: LEDGER_BASE.optional(),
});

export const ExportRecord = z.object({
  fromSeq: z.int().min(1), toSeq: z.int().min(1), ledgerFile: z.string(), receiptsFile: z.string(), receipts: COUNT,
  firstCreatedAt: TIME, lastCreatedAt: TIME, exportedAt: TIME,
});
export const ExportList = z.object({ exportedThrough: COUNT, removedThrough: COUNT, items: z.array(ExportRecord) });
export const ExportRecorded = z.object({ exportedThrough: COUNT });

export const Status = z.object({
  now: TIME,
  round: z.object({ round: z.int(), startedAt: TIME, tickets: COUNT, eligible: COUNT }).nullable(),
  nodes: z.array(z.object({ id: NODE_ID, name: z.string(), status: z.enum(['active', 'removed']), lastTicketRound: z.int().nullable(), stats: NodeStats })),
  throughput: z.object({ finishedLastMinute: COUNT, perSecond: z.number().min(0) }),
  failures: z.partialRecord(z.enum(FAILURE_CODES), COUNT),
  ledger: z.object({ length: COUNT, head: HASH }),
  memory: z.object({ usedBytes: COUNT, maxBytes: COUNT.meta({ description: '0: no limit' }), isNearLimit: z.boolean() }),
  retention: z.object({ retentionMs: COUNT, lagSeconds: z.number().min(0), exportedThrough: COUNT }),
  counterPublicKey: HASH.nullable(),
  codeFailures: COUNT,
  recent: z.array(z.object({
    id: id('req'), projectId: id('prj'), source: z.enum(['api', 'schedule', 'chain']), status: z.enum(REQUEST_STATUSES), createdAt: TIME,
    failureCode: z.enum(FAILURE_CODES).optional(),
    codeFailed: z.literal(true).optional().meta({ description: 'published with ok: false: the committee agreed that the code failed' }),
    finishedAt: TIME.optional(),
    durationMs: COUNT.optional(),
  })).meta({ description: 'recent request states, never inputs or results' }),
});

export const Health = z.object({ ok: z.literal(true) });
export const Readiness = z.object({ ok: z.boolean(), redis: z.boolean(), roles: z.boolean() });
