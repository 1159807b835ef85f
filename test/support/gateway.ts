// Builders for integration tests: a config with test values, a process context on a private
// prefix, registered test nodes with frozen tickets, agreed requests with real votes, and polling for a condition.
import { fromHex, toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { openProcess, startRole, type ProcessContext } from '../../lib/process.ts';
import { GENESIS_SEED, computeTicketsRoot, createRound, type RoundProof } from '../../lib/protocol/rounds.ts';
import type { RequestRecord, RoundRecord } from '../../lib/repository/types.ts';
import type { NewRequest } from '../../lib/repository/requests.ts';
import { createCommitteeSelector } from '../../lib/protocol/committee.ts';
import { createTicket } from '../../lib/protocol/tickets.ts';
import type { QueueKind } from '../../lib/queues.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import { buildOutcome, buildVotes, type TestNode } from './builders.ts';
import { createClient } from './http.ts';
import { uniquePrefix } from './redis.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const MASTER_KEY = toHex(sha256(utf8('test master key')));
export const COUNTER_KEY = sha256(utf8('test counter key'));

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_KEY_PREFIX: uniquePrefix(),
    GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
    GATEWAY_MASTER_KEY: MASTER_KEY,
    GATEWAY_COUNTER_KEY: toHex(COUNTER_KEY),
    GATEWAY_ROUND_MS: '100',
    GATEWAY_SWEEP_MS: '200',
    GATEWAY_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_LOG_LEVEL: 'silent',
    GATEWAY_REQUEST_DEADLINE_MS: '5000',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(testEnv(overrides));
}

export async function openTestProcess(redisUrl: string, overrides: Record<string, string> = {}): Promise<ProcessContext> {
  const config = testConfig(overrides);
  return openProcess('test', config, redisUrl, createLogger('test', config.logLevel));
}

/**
 * Registers `nodes`, then writes rounds 1 and 2 with every node's round-1 ticket, so round 1 is
 * frozen and requests assigned in round 2 draw from it. Returns the round-2 seed (hex).
 */
export async function seedFrozenRound(ctx: ProcessContext, nodes: readonly TestNode[]): Promise<string> {
  for (const node of nodes) {
    await ctx.repository.putNode(createNodeRecord(node.keys, node.nodeId, Date.now()));
  }
  const round1 = await startTestRound(ctx, 1, GENESIS_SEED, []);
  for (const node of nodes) {
    const ticket = createTicket(node.nodeId, node.keys.vrfSecretKey, 1, round1.seed);
    await ctx.repository.putTicket(1, { nodeId: node.nodeId, beta: toHex(ticket.beta), proof: toHex(ticket.proof) });
  }
  const round2 = await startTestRound(ctx, 2, round1.seed, (await ctx.repository.freezeRound(1)) ?? []);
  return toHex(round2.seed);
}

/** Starts round `round` as the scheduler does (v2: committed to the previous tickets and the ledger head), with the test counter key. */
export async function startTestRound(ctx: ProcessContext, round: number, previousSeed: Uint8Array, previousTickets: readonly { nodeId: string; beta: string }[]) {
  const ledger = await ctx.repository.getLedgerHead();
  const proof = createRound(COUNTER_KEY, round, previousSeed, { ticketsRoot: computeTicketsRoot(previousTickets), ledgerLength: ledger.length, ledgerHead: fromHex(ledger.head, 32) });
  await ctx.repository.startRound({
    round, seed: toHex(proof.seed), proof: toHex(proof.proof), startedAt: new Date().toISOString(),
    ticketsRoot: toHex(proof.ticketsRoot), ledgerLength: ledger.length, ledgerHead: ledger.head,
  });
  return proof;
}

/** A stored round record as the protocol verifies it. */
export function roundProofOf(record: RoundRecord): RoundProof {
  return {
    round: record.round, seed: fromHex(record.seed, 32), proof: fromHex(record.proof, 80),
    ticketsRoot: fromHex(record.ticketsRoot, 32), ledgerLength: record.ledgerLength, ledgerHead: fromHex(record.ledgerHead, 32),
  };
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
/** gateway_handler_outcomes_total of one role's handler in one process, by outcome (an outcome never raised is absent). */
export async function handlerOutcomes(ctx: Pick<ProcessContext, 'metrics'>, role: string, handler: string): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  for (const { labels, value } of (await ctx.metrics.handlerOutcomes.get()).values) {
    if (labels.role === role && labels.handler === handler) sums[String(labels.outcome)] = value;
  }
  return sums;
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The return value of a job once it finished (a snapshot taken after completion, so it is set). */
export function jobResult(ctx: ProcessContext, kind: QueueKind, jobId: string, nodeId?: string): Promise<unknown> {
  return waitFor(async () => {
    const job = await ctx.queues.get(kind, nodeId).getJob(jobId);
    return job?.finishedOn ? job.returnvalue : undefined;
  }, 5000, `job ${jobId}`);
}

/** Limits for projects written straight to the repository in tests. */
export const TEST_LIMITS = { timeoutMs: 2000, cpuMs: 1000, memoryMb: 32, fetchCalls: 0, outputBytes: 65536, logLines: 20, logBytes: 4096 } as const;

/** A process context on a private prefix with the real webserver role on a free port, and a JSON client for it. */
export interface TestWebserver {
  readonly ctx: ProcessContext;
  readonly url: string;
  readonly call: ReturnType<typeof createClient>;
  stop(): Promise<void>;
}

export async function startTestWebserver(redisUrl: string, overrides: Record<string, string> = {}): Promise<TestWebserver> {
  const ctx = await openTestProcess(redisUrl, overrides);
  const web = (await startRole('webserver', ctx)) as RoleHandle & { url: string };
  return {
    ctx,
    url: web.url,
    call: createClient(web.url),
    async stop() {
      await web.stop();
      await ctx.close();
    },
  };
}

/** A request to store agreed: its accepted fields, the value every committee member votes for, and the committee rule. */
export type AgreedRequestFields = Omit<NewRequest, 'createdAtMs' | 'maxOpen'> & {
  readonly value: unknown;
  readonly committeeSize: number;
  readonly quorum: number;
};

/**
 * A request agreed as consensus leaves it, every part verifiable: its committee drawn from round 1's
 * frozen tickets (seed them with `seedFrozenRound(ctx, nodes)` first), assigned in round 2, a signed
 * v2 vote of every member for `value`, and the outcome they agree on (exact). Its project, version
 * `fields.version`, must exist. Returns the stored record.
 */
export async function seedAgreedRequest(ctx: ProcessContext, nodes: readonly TestNode[], fields: AgreedRequestFields): Promise<RequestRecord> {
  const nowMs = Date.now();
  const { value, committeeSize, quorum, ...accepted } = fields;
  const put = await ctx.repository.putRequest({ ...accepted, createdAtMs: nowMs, maxOpen: 1000 });
  if (put.outcome !== 'created') throw new Error(`request ${fields.id} not created: ${put.outcome}`);
  const tickets = await ctx.repository.listTickets(1);
  const committee = createCommitteeSelector(tickets.map((t) => ({ nodeId: t.nodeId, beta: fromHex(t.beta, 64) }))).select(fields.id, committeeSize);
  const at = new Date(nowMs).toISOString();
  const assignment = { round: 2, roundSeed: (await ctx.repository.getRound(2))!.seed, committee, quorum, aggregation: 'exact' as const, assignedAt: at };
  await ctx.repository.assignRequest(fields.id, assignment, nowMs);
  const votes = buildVotes(committee.map((id) => nodes.find((n) => n.nodeId === id)!), { ...accepted, createdAt: at, assignment }, value);
  for (const { requestId: _id, ...vote } of votes) await ctx.repository.recordVote(fields.id, vote);
  await ctx.repository.agreeRequest(fields.id, buildOutcome(votes, value, at), nowMs);
  return (await ctx.repository.getRequest(fields.id))!;
}
