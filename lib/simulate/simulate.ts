// Local simulation of a committee, without Redis: each simulated node runs the code in the
// executors' sandbox (same runner, bootstrap and limits), signs a real v2 vote with its own keys,
// and consensus's own checks and tally decide the outcome. Faults are injected on purpose:
// byzantine nodes sign another value, slow ones vote after the tally closed, and fetch can diverge.
import { toHex, u64be, utf8 } from '../crypto/bytes.ts';
import { errorResult } from '../crypto/canonical-json.ts';
import { computeContentId } from '../crypto/content-id.ts';
import { sha256 } from '../crypto/hash.ts';
import { computeNodeId, createSigner, deriveNodeKeys } from '../crypto/keys.ts';
import { loadConfig } from '../config.ts';
import { GatewayError } from '../errors.ts';
import { createId } from '../ids.ts';
import { effectiveLimits, fetchPolicyOf, sandboxLimitsOf, type ProjectLimits } from '../limits.ts';
import { computeRequestSeed } from '../protocol/rounds.ts';
import { checkVote, computeVoteBinding, createVote, type Vote } from '../protocol/vote.ts';
import { computeTally, defaultQuorum, type TalliedVote, type TallyOutcome } from '../protocol/vote-tally.ts';
import { checkCode } from '../sandbox/compile.ts';
import { createGuardedFetch, type SandboxFetch } from '../sandbox/guarded-fetch.ts';
import { maskSecrets } from '../sandbox/mask-secrets.ts';
import { createSandboxRunner } from '../sandbox/runner.ts';
import { createDivergingFetch, createFixtureFetch, divergenceFactor, type FetchFixture } from './fixtures.ts';

export { loadFetchFixtures, type FetchFixture } from './fixtures.ts';
export { compileUserSource } from './source.ts';

export interface SimulateOptions {
  /** JavaScript (types already stripped: see compileUserSource). */
  code: string;
  /** A JSON value; null when absent. */
  input?: unknown;
  /** Committee size k; default 1. */
  nodes?: number;
  /** Default defaultQuorum(k), a strict majority. */
  quorum?: number;
  aggregation?: 'exact' | 'median';
  secrets?: Record<string, string>;
  /** `production`: the gateway's default project limits (with `projectLimits` applied); `none`: generous ones. */
  limits?: 'production' | 'none';
  /** The project's own limits (gateway.json `limits`), capped by the default ceilings; production only. */
  projectLimits?: Partial<ProjectLimits>;
  /** Nodes that sign a different value than the code returned (each its own). */
  byzantine?: number;
  /** Nodes whose vote arrives after the tally closed: recorded late, never counted. */
  slow?: number;
  /** Each node sees every number of a JSON fetch response scaled by its own factor (divergenceFactor). */
  divergeFetch?: boolean;
  /** ctx.fetch answered from these only; without them, the network through the gateway's guarded fetch. */
  fetchFixtures?: FetchFixture[];
  /** The request's accepted-at time (the sandbox clock stands still at it); default now. */
  nowMs?: number;
  requestId?: string;
  projectId?: string;
}

export interface SimulatedNode {
  nodeId: string;
  name: string;
  behaviour: 'honest' | 'byzantine' | 'slow';
  /** The verdict the node signed: the run's `ok`, or true for a byzantine node. */
  ok: boolean;
  /** The value the node signed (`{ "error": message }` when the run failed). */
  value: unknown;
  /** The run's error message, when the code failed (also for a byzantine node, which signs something else). */
  error?: string;
  logs: string[];
  /** The sandbox run's wall-clock time. */
  durationMs: number;
  /** CPU time of the run in its isolate (ms), and the isolate's heap in use when it ended (bytes); absent when the isolate was gone (a memory kill). */
  cpuMs?: number;
  heapBytes?: number;
  resultHash: string;
  /** The vote was counted: it arrived before the request was final. */
  counted: boolean;
  /** The vote supports the outcome: it signed the agreed value (counted or late), or its number went into the median. */
  agreed: boolean;
}

export interface SimulationResult {
  nodes: SimulatedNode[];
  quorum: number;
  aggregation: 'exact' | 'median';
  /** The request the committee answered (ctx.requestId, ctx.projectId, ctx.round, ctx.seed). */
  request: { requestId: string; projectId: string; round: number; seed: string; codeCid: string };
  /** The limits the runs had. */
  limits: ProjectLimits;
  outcome: {
    status: 'agreed' | 'no_quorum';
    ok?: boolean;
    value?: unknown;
    resultHash?: string;
    supporters: string[];
    /** Why there is no agreed value. */
    reason?: string;
  };
}

/** `limits: 'none'`: the widest limits the gateway's settings allow a run at all. */
export const GENEROUS_LIMITS: ProjectLimits = {
  timeoutMs: 600_000, cpuMs: 600_000, memoryMb: 1024, fetchCalls: 1000, outputBytes: 64 * 2 ** 20, logLines: 100_000, logBytes: 16 * 2 ** 20,
};

const ROUND = 1;
const ROUND_SEED = sha256(utf8('gw/simulate/round-seed'));

/**
 * Runs the simulation. Votes arrive byzantine first (the worst case: an attacker answers fastest),
 * then honest, then slow; the tally is re-computed at each, as consensus does, and closes (grace
 * period or deadline) once every timely vote is in. Throws GatewayError `invalid_value` for
 * inconsistent options and `invalid_code` when the gateway would refuse the code at upload.
 */
export async function simulate(options: SimulateOptions): Promise<SimulationResult> {
  const size = options.nodes ?? 1;
  const byzantine = options.byzantine ?? 0;
  const slow = options.slow ?? 0;
  const aggregation = options.aggregation ?? 'exact';
  const quorum = options.quorum ?? defaultQuorum(size);
  checkCounts(size, quorum, byzantine, slow);
  checkCode(options.code);

  const nowMs = options.nowMs ?? Date.now();
  const config = loadConfig({});
  const limits = options.limits === 'none' ? GENEROUS_LIMITS : effectiveLimits({ limits: options.projectLimits ?? {} }, config);
  const fetchPolicy = fetchPolicyOf(limits, config);
  const request = {
    id: options.requestId ?? createId('req', nowMs),
    projectId: options.projectId ?? createId('prj', nowMs),
    createdAt: new Date(nowMs).toISOString(),
    codeCid: computeContentId(utf8(options.code)),
    input: options.input ?? null,
  };
  const seed = toHex(computeRequestSeed(ROUND_SEED, request.id));
  const members = Array.from({ length: size }, (_, index) => createMember(index, size - byzantine - slow, byzantine));
  const committee = members.map((m) => m.nodeId);
  const binding = computeVoteBinding(request, { committee, quorum, aggregation });

  const runner = createSandboxRunner();
  const runs: Array<{ node: SimulatedNode; vote: Vote; signPublicKey: Uint8Array }> = [];
  try {
    for (const [index, member] of members.entries()) {
      const runEnd = new AbortController();
      let fetch: SandboxFetch = options.fetchFixtures
        ? createFixtureFetch(options.fetchFixtures, fetchPolicy.maxCalls)
        : createGuardedFetch(fetchPolicy, { signal: runEnd.signal });
      if (options.divergeFetch) fetch = createDivergingFetch(fetch, divergenceFactor(index, size));
      const { outcome, usage } = await runner
        .runMeasured({
          codeKey: request.codeCid,
          code: options.code,
          input: request.input,
          context: { requestId: request.id, projectId: request.projectId, round: ROUND, seed, acceptedAtMs: nowMs, secrets: { ...options.secrets } },
          limits: sandboxLimitsOf(limits),
          fetch,
        })
        .finally(() => runEnd.abort());
      const ran = outcome.ok ? outcome.value : errorResult(outcome.error);
      const signed = member.behaviour === 'byzantine' ? { ok: true, value: byzantineValue(outcome.ok ? outcome.value : null, member.byzantineIndex) } : { ok: outcome.ok, value: ran };
      const vote = createVote(member.sign, { requestId: request.id, nodeId: member.nodeId, round: ROUND, ...signed }, binding);
      runs.push({
        node: {
          nodeId: member.nodeId, name: member.name, behaviour: member.behaviour, ok: signed.ok, value: signed.value,
          ...(outcome.ok ? {} : { error: outcome.error }),
          // Masked as an executor masks them before they are stored.
          logs: maskSecrets(outcome.logs, options.secrets ?? {}), durationMs: Math.round(outcome.durationMs * 100) / 100,
          ...(usage ? { cpuMs: Math.round(usage.cpuMs * 100) / 100, heapBytes: usage.heapBytes } : {}),
          resultHash: vote.resultHash, counted: false, agreed: false,
        },
        vote,
        signPublicKey: member.signPublicKey,
      });
    }
  } finally {
    await runner.close();
  }

  const arrival = [...runs].sort((a, b) => ARRIVAL_ORDER[a.node.behaviour] - ARRIVAL_ORDER[b.node.behaviour]);
  const rule = { committeeSize: size, quorum, aggregation };
  const recorded: TalliedVote[] = [];
  let tally: TallyOutcome = { status: 'pending' };
  for (const { node, vote, signPublicKey } of arrival) {
    const isFinal = tally.status === 'agreed' || tally.status === 'no_quorum';
    // Slow votes arrive after the tally closed: consensus first closes it with what it has.
    if (node.behaviour === 'slow' && !isFinal) tally = computeTally(rule, recorded, true);
    const refusal = checkVote({ requestId: request.id, round: ROUND, committee, votedNodeIds: recorded.map((v) => v.nodeId), isFinal: isFinal || node.behaviour === 'slow', signPublicKey, binding }, vote);
    if (refusal !== null && refusal !== 'already_final') throw new GatewayError('internal', `simulated vote of ${node.name} refused: ${refusal}`);
    node.counted = refusal === null;
    recorded.push({ nodeId: vote.nodeId, ok: vote.ok, resultHash: vote.resultHash, value: vote.value, ...(node.counted ? {} : { late: true }) });
    if (node.counted) tally = computeTally(rule, recorded);
  }
  if (tally.status === 'pending' || tally.status === 'quorum') tally = computeTally(rule, recorded, true);

  const nodes = runs.map((r) => r.node);
  if (tally.status === 'agreed') {
    const { supporters, ok, resultHash } = tally;
    for (const node of nodes) node.agreed = supporters.includes(node.nodeId) || (node.ok === ok && node.resultHash === resultHash);
    return { nodes, quorum, aggregation, request: requestView(request, seed), limits, outcome: { status: 'agreed', ok: tally.ok, value: tally.value, resultHash: tally.resultHash, supporters: [...tally.supporters] } };
  }
  const counted = nodes.filter((n) => n.counted).length;
  const reason = tally.status === 'no_quorum'
    ? `${counted} of ${size} votes counted and no value can reach the quorum of ${quorum}`
    : `the deadline passed with ${counted} of ${size} votes counted and no value at the quorum of ${quorum}`;
  return { nodes, quorum, aggregation, request: requestView(request, seed), limits, outcome: { status: 'no_quorum', supporters: [], reason } };
}

const ARRIVAL_ORDER = { byzantine: 0, honest: 1, slow: 2 } as const;

interface Member {
  readonly name: string;
  readonly nodeId: string;
  readonly behaviour: SimulatedNode['behaviour'];
  /** 1-based among the byzantine nodes (0 for others). */
  readonly byzantineIndex: number;
  readonly signPublicKey: Uint8Array;
  readonly sign: (message: Uint8Array) => Uint8Array;
}

// Member `index`: keys from a fixed seed (the same node ids on every simulation); the first
// `honest` members are honest, the next `byzantine` byzantine, the rest slow.
function createMember(index: number, honest: number, byzantine: number): Member {
  const keys = deriveNodeKeys(sha256(utf8('gw/simulate/node'), u64be(index)));
  const behaviour = index < honest ? 'honest' : index < honest + byzantine ? 'byzantine' : 'slow';
  return {
    name: `node-${index + 1}`,
    nodeId: computeNodeId(keys.signPublicKey),
    behaviour,
    byzantineIndex: behaviour === 'byzantine' ? index - honest + 1 : 0,
    signPublicKey: keys.signPublicKey,
    sign: createSigner(keys.signSecretKey),
  };
}

/** What byzantine node `n` (1-based) signs instead of `value`: a far-off number for a number, else "byzantine-n". */
export function byzantineValue(value: unknown, n: number): unknown {
  return typeof value === 'number' && Number.isFinite(value) ? value * 10 + n : `byzantine-${n}`;
}

function checkCounts(size: number, quorum: number, byzantine: number, slow: number): void {
  const fail = (message: string): never => {
    throw new GatewayError('invalid_value', message);
  };
  if (!Number.isSafeInteger(size) || size < 1 || size > 100) fail(`nodes must be an integer from 1 to 100, got ${size}`);
  if (!Number.isSafeInteger(quorum) || quorum < 1 || quorum > size) fail(`quorum must be an integer from 1 to the committee size ${size}, got ${quorum}`);
  if (!Number.isSafeInteger(byzantine) || byzantine < 0) fail(`byzantine must be a whole number, got ${byzantine}`);
  if (!Number.isSafeInteger(slow) || slow < 0) fail(`slow must be a whole number, got ${slow}`);
  if (byzantine + slow > size) fail(`byzantine (${byzantine}) and slow (${slow}) nodes exceed the committee of ${size}`);
}

function requestView(request: { id: string; projectId: string; codeCid: string }, seed: string): SimulationResult['request'] {
  return { requestId: request.id, projectId: request.projectId, round: ROUND, seed, codeCid: request.codeCid };
}
