// The chain inputter (run by the scheduler, under its lease): polls the contract for the pending
// requests of every bound project and accepts each as a gateway request under the idempotency key
// `chain.<projectId>.<reqId>`, so restarts and overlapping polls never miss or duplicate one.
import type { Config } from '../../config.ts';
import { isGatewayError } from '../../errors.ts';
import { errorForLog, type Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import { acceptRequest } from '../accept-request.ts';
import type { Clock } from '../../runtime/common.ts';
import { startPeriodic } from '../../runtime/periodic.ts';
import type { ChainReader } from '../../chain/archway-client.ts';
import type { PendingChainRequest as ChainPendingRequest } from '../../chain/contract-schema.ts';
import type { Project } from '../../repository/types.ts';

export interface ChainInputterDeps {
  readonly repository: Pick<Repository, 'listChainBindings' | 'getProject' | 'putRequest' | 'getCodeVersion' | 'reconcileOpenRequests'>;
  readonly queues: QueueSet;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'admissionRefused' | 'failures'>;
  readonly config: Pick<Config, 'projectMaxInFlight' | 'maxInputBytes'>;
  readonly connect: () => Promise<ChainReader>;
  readonly isLeader: () => boolean;
  readonly pollMs: number;
}

/** The idempotency key of an on-chain request. */
export function chainRequestKey(chainProjectId: number, reqId: number): string {
  return `chain.${chainProjectId}.${reqId}`;
}

/**
 * A contract input is a string: JSON when it parses as JSON, else the string itself. A string
 * longer than `maxInputBytes` is not parsed at all: it is refused by size (see acceptRequest).
 */
export function parseChainInput(input: string, maxInputBytes: number): unknown {
  if (Buffer.byteLength(input) > maxInputBytes) return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}

// What the contract said comes from outside: a pending request larger than any input keeps only a
// short head of its text in the record (the request itself is refused by size).
const MAX_ORIGIN_INPUT_CHARS = 1024;

export function startChainInputter(deps: ChainInputterDeps): { pollOnce(): Promise<number>; stop(): Promise<void> } {
  let reader: ChainReader | undefined;

  async function pollOnce(): Promise<number> {
    if (!deps.isLeader()) return 0;
    reader ??= await deps.connect();
    let accepted = 0;
    for (const [chainProjectId, projectId] of await deps.repository.listChainBindings()) {
      const project = await deps.repository.getProject(projectId);
      if (!project) continue;
      const state = await reader.queryProject(chainProjectId);
      for (const pending of state.pending) {
        if (state.answered.has(pending.reqId)) continue;
        // One pending request never stops intake for the others: each is accepted (or refused) on its own.
        if (await acceptPending(deps, project, chainProjectId, pending)) accepted++;
      }
    }
    return accepted;
  }

  const periodic = startPeriodic({
    intervalMs: deps.pollMs,
    run: pollOnce,
    runAtStart: true,
    onError: (err) => {
      // A broken connection is rebuilt on the next poll.
      reader?.disconnect();
      reader = undefined;
      deps.logger.warn({ err: errorForLog(err) }, 'chain poll failed');
    },
  });
  return {
    pollOnce: periodic.runOnce,
    async stop() {
      await periodic.stop();
      reader?.disconnect();
    },
  };
}

/**
 * Takes one pending contract request in as a gateway request (or as a rejected one); true when it
 * is new. Refused at admission, it stays pending in the contract and a later poll offers it again.
 */
async function acceptPending(deps: ChainInputterDeps, project: Project, chainProjectId: number, pending: ChainPendingRequest): Promise<boolean> {
  const { reqId } = pending;
  const isOversized = Buffer.byteLength(pending.input) > deps.config.maxInputBytes;
  try {
    const { id, created, isRejected } = await acceptRequest(
      { repository: deps.repository, queues: deps.queues, config: deps.config, nowMs: deps.clock.now() },
      {
        project,
        input: parseChainInput(pending.input, deps.config.maxInputBytes),
        source: 'chain',
        idempotencyKey: chainRequestKey(chainProjectId, reqId),
        origin: { chainProjectId, reqId, user: pending.user.slice(0, 128), input: isOversized ? pending.input.slice(0, MAX_ORIGIN_INPUT_CHARS) : pending.input },
      },
    );
    if (isRejected) deps.metrics.failures.inc({ code: 'rejected' });
    if (created) deps.logger.info({ requestId: id, projectId: project.id, chainProjectId, reqId }, 'chain request accepted');
    return created;
  } catch (error) {
    if (!isGatewayError(error, 'rate_limited')) throw error;
    deps.metrics.admissionRefused.inc({ source: 'chain' });
    deps.logger.warn({ projectId: project.id, chainProjectId, reqId }, 'chain request deferred: project at its in-flight limit');
    return false;
  }
}
