// Accepting a request (API, schedule or chain): persist it as `queued`, then hand it to the receiver.
import { GatewayError } from '../errors.ts';
import { createId } from '../ids.ts';
import { jobIds, type QueueSet } from '../queues.ts';
import type { Repository } from '../repository/index.ts';
import type { ChainOrigin, Project, RequestSource } from '../repository/types.ts';

export interface AcceptInput {
  readonly project: Project;
  readonly input: unknown;
  readonly version?: number;
  readonly source: RequestSource;
  readonly idempotencyKey?: string;
  readonly origin?: ChainOrigin;
}

/**
 * Persists the request, then enqueues it. "Accepted" means persisted: if the process dies between
 * the two steps, the scheduler's repair sweep enqueues the request it finds `queued` without a job.
 * Throws GatewayError `not_found` for an unknown code version.
 */
export async function acceptRequest(
  deps: { repository: Pick<Repository, 'putRequest' | 'getCodeVersion'>; queues: QueueSet; nowMs: number },
  accept: AcceptInput,
): Promise<{ id: string; created: boolean }> {
  const { project } = accept;
  let codeCid = project.codeCid;
  const version = accept.version ?? project.version;
  if (version !== project.version) {
    const stored = await deps.repository.getCodeVersion(project.id, version);
    if (!stored) throw new GatewayError('not_found', `project ${project.id} has no code version ${version}`);
    codeCid = stored.codeCid;
  }
  const result = await deps.repository.putRequest({
    id: createId('req', deps.nowMs),
    projectId: project.id,
    version,
    codeCid,
    source: accept.source,
    input: accept.input ?? null,
    createdAtMs: deps.nowMs,
    idempotencyKey: accept.idempotencyKey,
    ...(accept.origin ? { origin: accept.origin } : {}),
  });
  if (result.created) await deps.queues.add('incoming', jobIds.incoming(result.id), { requestId: result.id });
  return result;
}
