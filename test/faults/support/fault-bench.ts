// The fault suite's bench: the fault proxy in front of a private redis-server, and two process
// contexts on one key prefix: `faulty`, whose connection goes through the proxy (the role under
// test), and `direct` (setup, assertions, and the roles not under test).
import { expect } from 'chai';
import { utf8 } from '../../../lib/crypto/bytes.ts';
import { computeContentId } from '../../../lib/crypto/content-id.ts';
import { publicKey } from '../../../lib/crypto/ecvrf.ts';
import { startRole, type ProcessContext, type RoleName } from '../../../lib/process.ts';
import { createKeys, type Keys } from '../../../lib/repository/keys.ts';
import type { Project, RequestRecord } from '../../../lib/repository/types.ts';
import { acceptRequest } from '../../../lib/roles/accept-request.ts';
import { startExecutor } from '../../../lib/roles/executor/executor.ts';
import { createApiKey } from '../../../lib/roles/webserver/auth.ts';
import { createLedgerVerifier } from '../../../lib/roles/webserver/ledger-verifier.ts';
import { systemClock, type RoleHandle } from '../../../lib/runtime/common.ts';
import { createSandboxRunner, type SandboxRunner } from '../../../lib/sandbox/runner.ts';
import { buildNodes, type TestNode } from '../../support/builders.ts';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.ts';
import { COUNTER_KEY, TEST_LIMITS, openTestProcess, testEnv, waitFor } from '../../support/gateway.ts';

export const CODE = 'export default (input) => ({ sum: input.a + input.b });';

/** Long enough that no deadline ends a request while a case waits for it on a busy machine. */
const DEADLINE_MS = '120000';

/** How long a case waits for a condition the roles reach in well under a second on an idle machine. */
export const SETTLE_MS = 20_000;

export interface FaultBench {
  readonly proxy: FaultProxy;
  /** The role under test: its connection goes through the proxy. */
  readonly faulty: ProcessContext;
  /** Setup, assertions and the other roles, straight to Redis. */
  readonly direct: ProcessContext;
  readonly keys: Keys;
  readonly nodes: readonly TestNode[];
  start(ctx: ProcessContext, ...roles: Exclude<RoleName, 'executor'>[]): Promise<RoleHandle[]>;
  /** Executor nodes on the direct context, with an in-process sandbox. */
  startNodes(members?: readonly TestNode[]): Promise<void>;
  /** A project stored with version 1 of CODE, and its API key. */
  putProject(overrides?: Partial<Project>): Promise<Project & { apiKey: string }>;
  /** Accepts a request on the direct context, as the API would. */
  accept(project: Project, input?: unknown): Promise<string>;
  waitForStatus(id: string, status: RequestRecord['status']): Promise<RequestRecord>;
  /** GET /v1/ledger/verify's full check (admin): the chain from seq 1 and the newest round's anchor. */
  expectLedgerVerifies(length: number): Promise<void>;
  stop(): Promise<void>;
}

export interface BenchOptions {
  /** Settings of both contexts. */
  readonly env?: Record<string, string>;
  /** Settings of the faulty context only. */
  readonly faultyEnv?: Record<string, string>;
  readonly nodeCount?: number;
}

export async function openFaultBench(redisUrl: string, options: BenchOptions = {}): Promise<FaultBench> {
  const proxy = await startFaultProxy(redisUrl);
  const env = { GATEWAY_REQUEST_DEADLINE_MS: DEADLINE_MS, ...options.env, GATEWAY_KEY_PREFIX: testEnv().GATEWAY_KEY_PREFIX };
  const direct = await openTestProcess(redisUrl, env);
  const faulty = await openTestProcess(proxy.url, { ...env, ...options.faultyEnv });
  const keys = createKeys(direct.config.keyPrefix);
  const nodes = buildNodes(options.nodeCount ?? 3);
  const handles: RoleHandle[] = [];
  let sandbox: SandboxRunner | undefined;

  return {
    proxy, faulty, direct, keys, nodes,
    async start(ctx, ...roles) {
      const started: RoleHandle[] = [];
      for (const role of roles) started.push(await startRole(role, ctx));
      handles.push(...started);
      return started;
    },
    async startNodes(members = nodes) {
      sandbox ??= createSandboxRunner();
      for (const node of members) {
        handles.push(await startExecutor({ ...direct, clock: systemClock, nodeId: node.nodeId, keys: node.keys, sandbox }));
      }
    },
    async putProject(overrides = {}) {
      const nowMs = Date.now();
      const { apiKey, hash } = createApiKey();
      const project: Project = {
        id: `prj_${nowMs.toString(32).padStart(10, '0')}${Math.random().toString(36).slice(2, 10).padEnd(16, '0')}`,
        name: 'faults', description: '', committee: { size: 3, quorum: 2 }, aggregation: 'exact',
        limits: TEST_LIMITS, version: 1, codeCid: computeContentId(utf8(CODE)), createdAt: new Date(nowMs).toISOString(), ...overrides,
      };
      await direct.repository.putProject(project, CODE, hash, nowMs);
      return { ...project, apiKey };
    },
    async accept(project, input = { a: 2, b: 3 }) {
      const { id } = await acceptRequest({ repository: direct.repository, queues: direct.queues, config: direct.config, nowMs: Date.now() }, { project, input, source: 'api' });
      return id;
    },
    waitForStatus(id, status) {
      return waitFor(async () => {
        const request = await direct.repository.getRequest(id);
        return request?.status === status ? request : undefined;
      }, SETTLE_MS, `request ${id} ${status}`);
    },
    async expectLedgerVerifies(length) {
      const report = await createLedgerVerifier(direct.repository, publicKey(COUNTER_KEY)).verifyAll();
      expect(report).to.deep.include({ ok: true, length });
    },
    async stop() {
      for (const handle of handles.reverse()) await handle.stop();
      await sandbox?.close();
      await faulty.close();
      await direct.close();
      await proxy.stop();
    },
  };
}
