// Executor: one node. Proves its ticket each round (a worker of its own, so tickets never wait behind
// runs), and for each run job whose committee it is in, runs the project's code in the sandbox and
// sends a signed vote; no project holds more than its share of the node's run slots.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { errorResult } from '../../crypto/canonical-json.ts';
import { createSigner, type NodeKeys } from '../../crypto/keys.ts';
import { computeRequestSeed } from '../../protocol/rounds.ts';
import { VOTING_STATUS } from '../../protocol/request-lifecycle.ts';
import { createTicket } from '../../protocol/tickets.ts';
import { createVote } from '../../protocol/vote.ts';
import { jobIds, type JobPayloads, type QueueSet } from '../../queues.ts';
import type { Repository } from '../../repository/index.ts';
import type { Config } from '../../config.ts';
import type { Assignment, Project, RequestRecord } from '../../repository/types.ts';
import { effectiveLimits, fetchPolicyOf, sandboxLimitsOf } from '../../limits.ts';
import { SandboxLostError, type SandboxRunner } from '../../sandbox/runner.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from '../../runtime/common.ts';

export interface ExecutorDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequest' | 'getProject' | 'getCode' | 'getSecrets' | 'getRound'>;
  readonly queues: QueueSet;
  readonly nodeId: string;
  readonly keys: NodeKeys;
  readonly sandbox: SandboxRunner;
}

const CODE_CACHE_LIMIT = 256;

const PROJECT_CACHE_MS = 2000;
// A run put back because its project held its share of the slots waits 50 ms, doubling to 1 s.
const DEFER_FIRST_MS = 50;
const DEFER_MAX_MS = 1000;

/** How many runs of one project a node runs at once: `share` of its slots, at least one. */
export function projectRunCap(config: Pick<Config, 'projectRunShare' | 'executorConcurrency'>): number {
  return Math.max(1, Math.floor(config.projectRunShare * config.executorConcurrency));
}

export async function startExecutor(deps: ExecutorDeps): Promise<RoleHandle> {
  const { repository, queues, config, clock, logger, nodeId, keys, sandbox, metrics } = deps;
  const sign = createSigner(keys.signSecretKey);
  const log = logger.child({ nodeId });
  // Code is content-addressed, so a cached blob can never be stale.
  const codeCache = new Map<string, string>();
  const projectCache = new Map<string, { project: Project; loadedAt: number }>();
  // Fairness on this node: runs in flight per project, and how often each waiting job was put back.
  const runCap = projectRunCap(config);
  const runningByProject = new Map<string, number>();
  const deferrals = new Map<string, number>();

  async function loadCode(cid: string): Promise<string> {
    let code = codeCache.get(cid);
    if (code === undefined) {
      const stored = await repository.getCode(cid);
      if (stored === null) throw new UnrecoverableError(`code ${cid} is missing`);
      code = stored;
      if (codeCache.size >= CODE_CACHE_LIMIT) codeCache.delete(codeCache.keys().next().value!);
      codeCache.set(cid, code);
    }
    return code;
  }

  async function loadProject(id: string): Promise<Project | null> {
    const cached = projectCache.get(id);
    if (cached && clock.now() - cached.loadedAt < PROJECT_CACHE_MS) return cached.project;
    const project = await repository.getProject(id);
    if (project) projectCache.set(id, { project, loadedAt: clock.now() });
    return project;
  }

  async function proveTicket(job: Job<JobPayloads['ticketRequests']>): Promise<string> {
    const { round } = job.data;
    const record = await repository.getRound(round);
    if (!record) return 'no_round';
    const ticket = createTicket(nodeId, keys.vrfSecretKey, round, fromHex(record.seed, 32));
    const payload = { nodeId, round, beta: toHex(ticket.beta), proof: toHex(ticket.proof) };
    await queues.add('tickets', jobIds.submittedTicket(round, nodeId), payload);
    return 'ticket sent';
  }

  // Takes a run slot for the project, or puts the job back at the end of the queue (after a short,
  // growing wait) when the project already holds its share: other projects' runs go first.
  async function takeSlot(job: Job<JobPayloads['exec']>, token: string | undefined, projectId: string): Promise<() => void> {
    const running = runningByProject.get(projectId) ?? 0;
    if (running >= runCap) {
      const times = deferrals.get(job.id!) ?? 0;
      deferrals.set(job.id!, times + 1);
      metrics.runsDeferred.inc();
      await job.moveToDelayed(Date.now() + Math.min(DEFER_FIRST_MS * 2 ** times, DEFER_MAX_MS), token);
      throw new DelayedError();
    }
    runningByProject.set(projectId, running + 1);
    return () => {
      const left = (runningByProject.get(projectId) ?? 1) - 1;
      if (left > 0) runningByProject.set(projectId, left);
      else runningByProject.delete(projectId);
    };
  }

  async function run(job: Job<JobPayloads['exec']>, token: string | undefined): Promise<string> {
    const { requestId } = job.data;
    const request = await repository.getRequest(requestId);
    if (!request?.assignment) return 'not_assigned';
    if (request.status !== VOTING_STATUS) return `already ${request.status}`;
    const { assignment } = request;
    // Membership is re-checked here: a job in this node's queue is not proof it was drawn.
    if (!assignment.committee.includes(nodeId)) return 'not_member';
    if (request.votes.some((v) => v.nodeId === nodeId)) return 'already_voted';
    const freeSlot = await takeSlot(job, token, request.projectId);
    try {
      return await runAndVote(request, assignment);
    } finally {
      freeSlot();
    }
  }

  async function runAndVote(request: RequestRecord, assignment: Assignment): Promise<string> {
    const requestId = request.id;
    const [project, code, secrets] = await Promise.all([loadProject(request.projectId), loadCode(request.codeCid), repository.getSecrets(request.projectId)]);
    if (!project) return 'no_project';
    const seed = toHex(computeRequestSeed(fromHex(assignment.roundSeed, 32), requestId));
    const limits = effectiveLimits(project, config);
    const outcome = await sandbox.run({
      codeKey: request.codeCid,
      code,
      input: request.input,
      context: { requestId, projectId: request.projectId, round: assignment.round, seed, acceptedAtMs: Date.parse(request.createdAt), secrets },
      limits: sandboxLimitsOf(limits),
      fetchPolicy: fetchPolicyOf(limits, config),
    });
    metrics.executions.inc({ outcome: outcome.ok ? 'ok' : 'error' });
    const value = outcome.ok ? outcome.value : errorResult(outcome.error);
    const vote = createVote(sign, { requestId, nodeId, round: assignment.round, ok: outcome.ok, value });
    await queues.add('votes', jobIds.vote(requestId, nodeId), { kind: 'vote', vote, logs: outcome.logs });
    log.info({ requestId, round: assignment.round, ok: outcome.ok, durationMs: Math.round(outcome.durationMs) }, 'vote sent');
    return outcome.ok ? 'voted ok' : 'voted error';
  }

  async function handle(job: Job<JobPayloads['exec']>, token?: string): Promise<string> {
    const data = job.data;
    let isDeferred = false;
    try {
      return await run(job, token);
    } catch (error) {
      isDeferred = error instanceof DelayedError;
      // The sandbox lost the run through no fault of the code: let the queue retry it.
      if (error instanceof SandboxLostError) {
        metrics.executions.inc({ outcome: 'lost' });
        log.warn({ requestId: data.requestId }, 'sandbox lost a run; retrying');
      }
      throw error;
    } finally {
      if (!isDeferred) deferrals.delete(job.id!);
    }
  }

  const worker = startWorker(deps, 'exec', handle, { nodeId, concurrency: config.executorConcurrency });
  const ticketWorker = startWorker(deps, 'ticketRequests', proveTicket, { nodeId, concurrency: 1 });
  return {
    name: `executor ${nodeId}`,
    isReady: () => worker.isRunning() && ticketWorker.isRunning(),
    stop: once(async () => {
      await Promise.all([worker.close(), ticketWorker.close()]);
    }),
  };
}
