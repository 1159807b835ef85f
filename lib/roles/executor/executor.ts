// Executor: one node. Proves its ticket each round (a worker of its own, so tickets never wait behind
// runs), and for each run job whose committee it is in, runs the project's code in the sandbox and
// sends a signed vote; no project holds more than its share of the node's run slots.
import { DelayedError, type Job } from 'bullmq';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { errorResult } from '../../crypto/canonical-json.ts';
import { createSigner, type NodeKeys } from '../../crypto/keys.ts';
import { computeRequestSeed } from '../../protocol/rounds.ts';
import { VOTING_STATUS } from '../../protocol/request-lifecycle.ts';
import { createTicketWith } from '../../protocol/tickets.ts';
import type { VrfRunner } from '../../crypto/vrf-runner.ts';
import { computeVoteBinding, createVote } from '../../protocol/vote.ts';
import { jobIds, type JobPayloads, type JobResults, type QueueSet } from '../../queues.ts';
import type { Logger } from '../../logger.ts';
import type { Repository } from '../../repository/index.ts';
import type { RequestState } from '../../repository/request-reads.ts';
import type { Assignment } from '../../repository/types.ts';
import { effectiveLimits, fetchPolicyOf, sandboxLimitsOf } from '../../limits.ts';
import { maskSecrets } from '../../sandbox/mask-secrets.ts';
import { SandboxLostError, type SandboxRunner } from '../../sandbox/runner.ts';
import { once, startWorker, type RoleBase, type RoleHandle } from '../../runtime/common.ts';
import { openRoleVrf } from '../../runtime/vrf-pool.ts';
import { CodeMismatchError, createCodeLoader } from './loaders.ts';
import { createProjectLoader, createSecretsLoader } from '../project-loader.ts';
import { createRunSlots, projectRunCap } from './run-slots.ts';

export { projectRunCap } from './run-slots.ts';

export interface ExecutorDeps extends RoleBase {
  readonly repository: Pick<Repository, 'getRequestState' | 'hasVoted' | 'getProject' | 'getCode' | 'getSecrets' | 'getRound'>;
  readonly queues: QueueSet;
  readonly nodeId: string;
  readonly keys: NodeKeys;
  readonly sandbox: SandboxRunner;
  /** VRF threads shared by the process's roles; absent, the executor runs its own and closes it on stop. */
  readonly vrf?: VrfRunner;
}

export async function startExecutor(deps: ExecutorDeps): Promise<RoleHandle> {
  const { repository, queues, config, logger, nodeId, keys, metrics } = deps;
  const log = logger.child({ nodeId });
  const loadSecrets = createSecretsLoader(repository, deps.clock);
  const runAndVote = createVoter(deps, log, loadSecrets);
  const slots = createRunSlots(projectRunCap(config), () => metrics.runsDeferred.inc());
  // The ticket proof runs on a worker thread, so votes and lock renewals never wait for it (nor it for them).
  const { vrf, close: closeVrf } = openRoleVrf(deps.vrf, log);

  async function proveTicket({ round }: JobPayloads['ticketRequests']): Promise<JobResults['ticketRequests']> {
    const record = await repository.getRound(round);
    if (!record) return 'no_round';
    const ticket = await createTicketWith(vrf, nodeId, keys.vrfSecretKey, round, fromHex(record.seed, 32));
    const payload = { kind: 'ticket' as const, nodeId, round, beta: toHex(ticket.beta), proof: toHex(ticket.proof) };
    await queues.add('tickets', jobIds.submittedTicket(round, nodeId), payload, { nodeId });
    return 'ticket sent';
  }

  async function run({ requestId, projectId }: JobPayloads['exec'], job: Job<JobPayloads['exec']>, token: string | undefined): Promise<JobResults['exec']> {
    // The payload's project (a hint: anyone with queue access writes payloads) lets its secrets be
    // read (when not kept from a run of the last two seconds) in the same round trip as the request;
    // they are used only if the request names that project.
    // The record without its votes (which may carry other members' logs). Whether this node voted
    // already (one HEXISTS) is asked only of a job taken before: a worker that died mid-run, a run put
    // back for its project's share, a retry. A first take has no earlier run of its own, and the
    // receiver re-sends run jobs only to members it found without a vote.
    const isTakenBefore = job.attemptsStarted > 1;
    const [request, hasVoted, hinted] = await Promise.all([
      repository.getRequestState(requestId), isTakenBefore ? repository.hasVoted(requestId, nodeId) : false, projectId ? readSecretsHint(projectId) : undefined,
    ]);
    if (!request?.assignment) return 'not_assigned';
    if (request.status !== VOTING_STATUS) return `already ${request.status}` as const;
    const { assignment } = request;
    // Membership is re-checked here: a job in this node's queue is not proof it was drawn.
    if (!assignment.committee.includes(nodeId)) return 'not_member';
    if (hasVoted) return 'already_voted';
    const freeSlot = await slots.take(job, token, request.projectId);
    try {
      return await runAndVote(request, assignment, hinted?.projectId === request.projectId ? hinted.secrets : undefined);
    } finally {
      freeSlot();
    }
  }

  // A failed hint read is no failure of the run: the secrets are read again once the request is known.
  const readSecretsHint = (projectId: string) => loadSecrets(projectId).then((secrets) => ({ projectId, secrets }), () => undefined);

  async function handleRun(data: JobPayloads['exec'], job: Job<JobPayloads['exec']>, token?: string): Promise<JobResults['exec']> {
    let isDeferred = false;
    try {
      return await run(data, job, token);
    } catch (error) {
      isDeferred = error instanceof DelayedError;
      // The sandbox lost the run through no fault of the code: let the queue retry it.
      if (error instanceof SandboxLostError) {
        metrics.executions.inc({ outcome: 'lost' });
        log.warn({ requestId: data.requestId }, 'sandbox lost a run; retrying');
      }
      throw error;
    } finally {
      if (!isDeferred) slots.forget(job.id!);
    }
  }

  const worker = startWorker(deps, 'exec', { run: handleRun }, { nodeId, concurrency: config.executorConcurrency });
  const ticketWorker = startWorker(deps, 'ticketRequests', { ticket: proveTicket }, { nodeId, concurrency: 1 });
  return {
    name: `executor ${nodeId}`,
    isReady: () => worker.isRunning() && ticketWorker.isRunning(),
    stop: once(async () => {
      await Promise.all([worker.close(), ticketWorker.close()]);
      await closeVrf();
    }),
  };
}

/** Runs a request's code in the sandbox with the project's effective limits and sends this node's signed vote. */
function createVoter(
  deps: ExecutorDeps, log: Logger, loadSecrets: (projectId: string) => Promise<Record<string, string>>,
): (request: RequestState, assignment: Assignment, secretsRead?: Record<string, string>) => Promise<JobResults['exec']> {
  const { repository, queues, config, clock, nodeId, keys, sandbox, metrics } = deps;
  const sign = createSigner(keys.signSecretKey);
  const loadCode = createCodeLoader(repository);
  const loadProject = createProjectLoader(repository, clock);
  return async function runAndVote(request, assignment, secretsRead) {
    const requestId = request.id;
    const [project, code, secrets] = await Promise.all([loadProject(request.projectId), loadCode(request.codeCid).catch(refuseSwappedCode), secretsRead ?? loadSecrets(request.projectId)]);
    if (code === null) {
      metrics.executions.inc({ outcome: 'code_mismatch' });
      log.error({ requestId, codeCid: request.codeCid }, 'code does not match its content id: no vote');
      return 'code_mismatch';
    }
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
    // The vote signs the code and input that ran, not only the result (protocol v2).
    const vote = createVote(sign, { requestId, nodeId, round: assignment.round, ok: outcome.ok, value }, computeVoteBinding(request, assignment));
    // Logs are stored and shown to the project: a secret value in them is masked first.
    await queues.add('votes', jobIds.vote(requestId, nodeId), { kind: 'vote', vote, logs: maskSecrets(outcome.logs, secrets) }, { nodeId });
    log.info({ requestId, round: assignment.round, ok: outcome.ok, durationMs: Math.round(outcome.durationMs) }, 'vote sent');
    return outcome.ok ? 'voted ok' : 'voted error';
  };
}

// Swapped code is never run: the run ends without a vote (null), every other failure goes on up.
function refuseSwappedCode(error: unknown): null {
  if (error instanceof CodeMismatchError) return null;
  throw error;
}
