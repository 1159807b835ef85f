// Accepting a request (API, schedule or chain): admission, input checks, persist it as `queued`,
// then hand it to the receiver.
import type { Config } from '../config.ts';
import { findNonJson } from '../crypto/canonical-json.ts';
import { GatewayError } from '../errors.ts';
import { createId } from '../ids.ts';
import { jobIds, type QueueSet } from '../queues.ts';
import type { Repository } from '../repository/index.ts';
import { fingerprintOf } from '../repository/requests.ts';
import type { ChainOrigin, Project, RequestSource } from '../repository/types.ts';

export interface AcceptInput {
  readonly project: Project;
  readonly input: unknown;
  readonly version?: number;
  readonly source: RequestSource;
  readonly idempotencyKey?: string;
  readonly origin?: ChainOrigin;
}

export interface AcceptDeps {
  readonly repository: Pick<Repository, 'putRequest' | 'getCodeVersion' | 'reconcileOpenRequests'>;
  readonly queues: QueueSet;
  readonly config: Pick<Config, 'projectMaxInFlight' | 'maxInputBytes'>;
  readonly nowMs: number;
}

/**
 * Why `input` cannot be a request's input, or null: the same checks for every source (a JSON value
 * nested at most 256 levels, at most `maxInputBytes` bytes as JSON). Costs one pass over the value.
 */
export function findInputProblem(input: unknown, maxInputBytes: number): { code: 'invalid_body' | 'payload_too_large'; reason: string } | null {
  const shape = findNonJson(input);
  if (shape) return { code: 'invalid_body', reason: `input: ${shape.replace(/^\$/, '')}`.replace('input: :', 'input:') };
  const bytes = Buffer.byteLength(JSON.stringify(input ?? null));
  return bytes > maxInputBytes ? { code: 'payload_too_large', reason: `input: ${bytes} bytes, at most ${maxInputBytes}` } : null;
}

/** Slots admitted this long ago may be reconciled: an acceptance takes milliseconds between its two steps. */
export const RECONCILE_AFTER_MS = 30_000;

/**
 * Persists the request, then enqueues it. "Accepted" means persisted: if the process dies between
 * the two steps, the scheduler's repair sweep enqueues the request it finds `queued` without a job.
 * Admission counts the project's requests in flight (not final): past `projectMaxInFlight` the
 * request is refused with GatewayError `rate_limited` and nothing is stored. An input that fails
 * the checks is refused with `invalid_body` / `payload_too_large` from the API; from a schedule or
 * the chain it is stored as a failed request (`rejected`, with the reason), so intake goes on.
 * Throws GatewayError `not_found` for an unknown code version, and `conflict` when the idempotency key
 * was used for a request with another input or version.
 */
export async function acceptRequest(deps: AcceptDeps, accept: AcceptInput): Promise<{ id: string; created: boolean; isRejected: boolean }> {
  const { project } = accept;
  let codeCid = project.codeCid;
  const version = accept.version ?? project.version;
  if (version !== project.version) {
    const stored = await deps.repository.getCodeVersion(project.id, version);
    if (!stored) throw new GatewayError('not_found', `project ${project.id} has no code version ${version}`);
    codeCid = stored.codeCid;
  }
  const problem = findInputProblem(accept.input, deps.config.maxInputBytes);
  if (problem && accept.source === 'api') throw new GatewayError(problem.code, problem.reason, { details: [problem.reason] });
  const put = () => deps.repository.putRequest({
    id: createId('req', deps.nowMs),
    projectId: project.id,
    version,
    codeCid,
    source: accept.source,
    // A refused input is not kept: the reason says what was wrong with it.
    input: problem ? null : (accept.input ?? null),
    createdAtMs: deps.nowMs,
    idempotencyKey: accept.idempotencyKey,
    // The same key again is the same request when it asks for the same thing, whatever version is latest by then.
    ...(accept.idempotencyKey === undefined ? {} : { fingerprint: fingerprintOf({ version: accept.version ?? null, input: accept.input ?? null }) }),
    maxOpen: deps.config.projectMaxInFlight,
    ...(problem ? { rejection: { code: 'rejected' as const, message: problem.reason } } : {}),
    ...(accept.origin ? { origin: accept.origin } : {}),
  });
  let result = await put();
  // A full project may hold slots that no open request uses any more (a crash cut off their release):
  // give those back, and admit the request when that made room.
  if (result.outcome === 'refused' && (await deps.repository.reconcileOpenRequests(project.id, deps.nowMs - RECONCILE_AFTER_MS)) > 0) result = await put();
  if (result.outcome === 'no_version') throw new GatewayError('not_found', `project ${project.id} has no code version ${version}`);
  if (result.outcome === 'conflict') {
    throw new GatewayError('conflict', `this Idempotency-Key was used for request ${result.id} with another input or version; use a new key for another request`);
  }
  if (result.outcome === 'refused') {
    throw new GatewayError('rate_limited', `project ${project.id} has ${result.open} requests in flight, the most allowed is ${deps.config.projectMaxInFlight}; retry shortly`, { retryAfterSeconds: 1 });
  }
  const created = result.outcome === 'created';
  // The project and acceptance time ride along as hints: the receiver assigns from them without reading the request.
  if (created && !problem) await deps.queues.add('incoming', jobIds.incoming(result.id), { kind: 'request', requestId: result.id, projectId: project.id, acceptedAtMs: deps.nowMs });
  return { id: result.id, created, isRejected: created && problem !== null };
}
