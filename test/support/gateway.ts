// Builders for integration tests: a config with test values, a process context on a private
// prefix, registered test nodes with frozen tickets, and polling for a condition.
import { toHex, utf8 } from '../../lib/crypto/bytes.ts';
import { sha256 } from '../../lib/crypto/hash.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { openProcess, startRole, type ProcessContext } from '../../lib/process.ts';
import { GENESIS_SEED, createRound } from '../../lib/protocol/rounds.ts';
import { createTicket } from '../../lib/protocol/tickets.ts';
import type { QueueKind } from '../../lib/queues.ts';
import type { RoleHandle } from '../../lib/runtime/common.ts';
import { createNodeRecord } from '../../lib/roles/node-record.ts';
import type { TestNode } from './builders.ts';
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
  const round1 = createRound(COUNTER_KEY, 1, GENESIS_SEED);
  await ctx.repository.startRound({ round: 1, seed: toHex(round1.seed), proof: toHex(round1.proof), startedAt: new Date().toISOString() });
  for (const node of nodes) {
    const ticket = createTicket(node.nodeId, node.keys.vrfSecretKey, 1, round1.seed);
    await ctx.repository.putTicket(1, { nodeId: node.nodeId, beta: toHex(ticket.beta), proof: toHex(ticket.proof) });
  }
  const round2 = createRound(COUNTER_KEY, 2, round1.seed);
  await ctx.repository.startRound({ round: 2, seed: toHex(round2.seed), proof: toHex(round2.proof), startedAt: new Date().toISOString() });
  return toHex(round2.seed);
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
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
