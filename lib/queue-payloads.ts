// Job payloads parsed on consume: a job is data from Redis, which any holder of queue access can
// write, so its shape is checked before a handler sees it. A malformed job can never succeed.
import { UnrecoverableError } from 'bullmq';
import type { JobPayloads, QueueKind } from './queues.ts';

type Shape = Record<string, (value: unknown) => boolean>;

const ID = /^[A-Za-z0-9_.-]{1,128}$/;
const HEX = /^[0-9a-f]+$/;
const isId = (value: unknown) => typeof value === 'string' && ID.test(value);
const isOptionalId = (value: unknown) => value === undefined || isId(value);
const isWholeNumber = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isRound = isWholeNumber;
/** The latest time a Date holds (ms since the epoch): a later one has no ISO form. */
const MAX_DATE_MS = 8.64e15;
const isOptionalTimeMs = (value: unknown) => value === undefined || (isWholeNumber(value) && value <= MAX_DATE_MS);
const isHex = (length: number) => (value: unknown) => typeof value === 'string' && value.length === length && HEX.test(value);
const isVote = (value: unknown): boolean => {
  if (typeof value !== 'object' || value === null) return false;
  const vote = value as Record<string, unknown>;
  return isId(vote.requestId) && isId(vote.nodeId) && isRound(vote.round) && typeof vote.ok === 'boolean'
    && isHex(64)(vote.resultHash) && isHex(128)(vote.signature) && 'value' in vote;
};
const isLogs = (value: unknown) => value === undefined || (Array.isArray(value) && value.every((line) => typeof line === 'string'));

// Per queue and kind: the fields a payload must have, each with its check.
const SHAPES: { readonly [K in QueueKind]: { readonly [P in JobPayloads[K]['kind']]: Shape } } = {
  incoming: { request: { requestId: isId, projectId: isOptionalId, acceptedAtMs: isOptionalTimeMs } },
  exec: { run: { requestId: isId, projectId: isOptionalId } },
  ticketRequests: { ticket: { round: isRound } },
  votes: { vote: { vote: isVote, logs: isLogs } },
  tickets: { ticket: { nodeId: isId, round: isRound, beta: isHex(128), proof: isHex(160) } },
  publish: { publish: { requestId: isId } },
};

/** The payload of a job on `queue`, checked; throws UnrecoverableError (naming the field, never its value) when malformed. */
export function parsePayload<K extends QueueKind>(queue: K, data: unknown): JobPayloads[K] {
  if (typeof data !== 'object' || data === null) throw new UnrecoverableError(`malformed ${queue} job: not an object`);
  const kind = (data as { kind?: unknown }).kind;
  const shapes = SHAPES[queue] as Record<string, Shape>;
  const shape = typeof kind === 'string' && Object.hasOwn(shapes, kind) ? shapes[kind] : undefined;
  if (!shape) throw new UnrecoverableError(`malformed ${queue} job: unknown kind`);
  for (const [field, isValid] of Object.entries(shape)) {
    if (!isValid((data as Record<string, unknown>)[field])) throw new UnrecoverableError(`malformed ${queue} job: bad ${field}`);
  }
  return data as JobPayloads[K];
}
