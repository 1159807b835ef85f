// Requests: creation with idempotency keys, guarded status transitions and votes, each one Lua
// script; reading them back is in request-reads.ts.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sha256 } from '../crypto/hash.ts';
import { toHex, utf8 } from '../crypto/bytes.ts';
import { timeOfId } from '../ids.ts';
import {
  ASSIGNED_STATUSES, FINAL_STATUSES, INITIAL_STATUS, OPEN_STATUSES, REJECTED_STATUS, TRANSITIONS, VOTING_STATUS,
  allowedFrom, canTransition, type RequestStatus, type TransitionTarget,
} from '../protocol/request-lifecycle.ts';
import { createBatchedWriter } from './batched-writer.ts';
import { DUE_KINDS, dueMemberOf, type DueEntry } from './due.ts';
import type { Keys } from './keys.ts';
import { ADD_NODE_COUNTS_LUA, COUNTED_MARK, type RequestNodeStats } from './node-stats.ts';
import { createRequestReads, parseVotes, type RequestReads } from './request-reads.ts';
import { createScript, luaSteps } from './script.ts';
import type { Assignment, Failure, Outcome, RequestRecord, StoredVote } from './types.ts';

const RECENT_KEPT = 200;
/** The recent list is trimmed back to RECENT_KEPT on about one store in this many (it holds a few more between). */
const RECENT_TRIM_EVERY = 8;
const HOUR_MS = 3_600_000;

// The scripts spell the lifecycle's statuses as Lua literals (plain lowercase words, nothing to escape).
const luaString = (status: RequestStatus): string => `'${status}'`;
const luaList = (statuses: readonly RequestStatus[]): string => `{${statuses.map(luaString).join(', ')}}`;
const luaTransitions = `{${Object.entries(TRANSITIONS).map(([to, from]) => `[${luaString(to as TransitionTarget)}] = ${luaList(from)}`).join(', ')}}`;

// Creation is two scripts, each on one slot. ADMIT runs on the control plane ({ctl}):
// KEYS: project's request list, project's open set, the version's open set, then the idempotency key
// when there is one. ARGV: id, createdAtMs, the project's versions key, version, most open requests
// of the project, idempotency TTL ms (0 = none), '1' when the request is refused for its input, the
// request's fingerprint (what the idempotency key stores beside the id: `<id> <fingerprint>`).
// The versions key is only read, so it is not declared (EVALSHA counts declared keys as written, and
// the scheduler's Redis user may only read projects); it shares the {ctl} slot.
// Admission and reservation are one step: a request is refused (-1, open count) while its project
// has the most requests not yet final, and then nothing is written, not even the idempotency key.
// Every call brings a fresh id, so an id found in the open set is this call's own, re-sent after a
// lost reply: it is reported admitted again and nothing is written.
const ADMIT_LUA = `
local idem = KEYS[4]
if idem then
  local existing = redis.call('GET', idem)
  if existing then return {0, existing} end
end
if ARGV[7] ~= '1' then
  if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1, ARGV[1]} end
  -- The version may have been deleted since the caller read it: a request never runs code that is gone.
  if redis.call('HEXISTS', ARGV[3], ARGV[4]) == 0 then return {-2, ''} end
  local open = redis.call('ZCARD', KEYS[2])
  if open >= tonumber(ARGV[5]) then return {-1, tostring(open)} end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
end
if idem then
  local stored = ARGV[1] .. ' ' .. ARGV[8]
  if ARGV[6] == '0' then redis.call('SET', idem, stored) else redis.call('SET', idem, stored, 'PX', ARGV[6]) end
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return {1, ARGV[1]}
`;

// STORE runs on the request's bucket. KEYS: request, queued index, recent list, finished index. ARGV: id, base JSON, createdAtMs, failure JSON ('' = a request to run), final channel, createdAt
// (ISO), `<projectId> <version>` (what a final move releases), the idempotency key's name ('' = none), the tombstones of the hour the
// id was created in (same bucket; only read, so not declared: the webserver's user may only read them;
// '' for an id the calling acceptance made itself, which retention cannot have removed), '1' to trim the recent list back to its size ('' = not this time).
// A request refused for its input is stored as failed at once, so a retried intake finds it.
// A request stored already (a re-sent call, or an earlier acceptance completed again) is left as it
// is, and one retention removed stays removed (a retry with its idempotency key gets `410 gone`).
const STORE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[9] ~= '' and redis.call('HEXISTS', ARGV[9], ARGV[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if ARGV[10] == '1' then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -${RECENT_KEPT + 1}) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'base', ARGV[2], 'status', ${luaString(REJECTED_STATUS)}, 'failure', ARGV[4], 'finishedAt', ARGV[6], 'idem', ARGV[8])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
  redis.call('PUBLISH', ARGV[5], ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], 'base', ARGV[2], 'status', ${luaString(INITIAL_STATUS)}, 'open', ARGV[7], 'idem', ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`;

// KEYS: open sets (projects' and versions'). ARGV: per key, how many requests leave it, then their
// ids. What requests leaving the open states give back (their admission slots, their code versions'
// use), for a batch of them in one step; removing twice changes nothing.
const RELEASE_LUA = `
local at = 1
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  redis.call('ZREM', key, unpack(ARGV, at + 1, at + n))
  at = at + 1 + n
end
return 1
`;

/** Requests released per script call at most. */
const MAX_RELEASE_BATCH = 200;

// KEYS: request, finished idx, then the index of each open status (OPEN_STATUSES order), then the
// request's votes, then (only with a due entry to add, or a settling) the due-time index, then (only
// with a settling) the stats hash of each node the settling counts, all in the request's bucket.
// ARGV: id, allowed statuses (comma list), new status, now ms, final channel, the number of recorded
// votes expected ('' = any), this call's move id, '1' to get the votes back ('' = not), the due entry
// to add with the move (`<dueAtMs> <member>`, kept when present; '' = none), the settling ('' = none:
// JSON `{"votes": n, "due": [members], "counts": [per node, in KEYS order]}`), what the caller expects
// of a request still in the initial status (`<projectId> <acceptedAtMs>`: its project, and its score
// in that status's index, which is its acceptance time; '' = nothing), then field/value pairs.
// Returns {applied, statusBefore, repeat, open, settled, votes...}: `open` is `<projectId> <version>`
// when the move reached a final status (the caller then releases the admission slot on the control
// plane, an idempotent step); `settled` is '1' when the move settled the request (below); the votes
// as the move left them, when asked and applied and not settled (the counted ones are all there are
// once voting closed).
// A move applies only when the lifecycle allows it from the current status and the caller expects
// that status (a failure may narrow the list), and, when the caller names it, while the request holds
// exactly the votes its decision saw, and, when the caller names them, while the request has the
// project and acceptance time it expects (a caller that decided from hints rather than from the
// record). The guard admits one final transition.
// A move that closes voting may settle the request in the same step (what settleRequest does after
// it otherwise): when the request holds exactly the `votes` the caller counted from, and was not
// settled before, its due entries go, the counts are added to its nodes' statistics and the mark
// that makes them once per request is set with the move. With another number of votes it is left to
// the caller, who gets the votes back.
// Each call brings a fresh move id, stored with the move: the same call re-sent after a lost reply
// finds its own id on the request in the target status, writes nothing and returns {1, status,
// 'repeat', open, ''} (and the votes, when asked), so the caller goes on as the first run would have.
const TRANSITION_LUA = `${ADD_NODE_COUNTS_LUA}
local FINAL = ${luaList(FINAL_STATUSES)}
local OPEN = ${luaList(OPEN_STATUSES)}
local ALLOWED_FROM = ${luaTransitions}
local function has(list, value)
  for _, item in ipairs(list) do if item == value then return true end end
  return false
end
local VOTES = 3 + #OPEN
local INITIAL = ${luaString(INITIAL_STATUS)}
-- What a final move gives back (\`open\`) never changes after the request is stored: read with its status.
local state = redis.call('HMGET', KEYS[1], 'status', 'open', '${COUNTED_MARK}')
local status = state[1]
-- The votes, read at most once (a move writes none): for a settling's count and for the answer.
local votes = nil
local function readVotes()
  votes = votes or redis.call('HVALS', KEYS[VOTES])
  return votes
end
local function applied(reply, settled)
  reply[4] = has(FINAL, ARGV[3]) and (state[2] or '') or ''
  reply[5] = settled and '1' or ''
  if ARGV[8] == '1' and not settled then
    for _, v in ipairs(readVotes()) do reply[#reply + 1] = v end
  end
  return reply
end
if not status then return {0, ''} end
if status == ARGV[3] and redis.call('HGET', KEYS[1], 'move') == ARGV[7] then return applied({1, status, 'repeat'}, false) end
if not has(ALLOWED_FROM[ARGV[3]] or {}, status) then return {0, status} end
if not string.find(',' .. ARGV[2] .. ',', ',' .. status .. ',', 1, true) then return {0, status} end
if ARGV[11] ~= '' then
  local space = string.find(ARGV[11], ' ', 1, true)
  local project = string.sub(ARGV[11], 1, space)
  if status ~= INITIAL or string.sub(state[2] or '', 1, #project) ~= project then return {0, status} end
  local acceptedAt = nil
  for i, indexed in ipairs(OPEN) do
    if indexed == INITIAL then acceptedAt = tonumber(redis.call('ZSCORE', KEYS[2 + i], ARGV[1])) end
  end
  if acceptedAt == nil or acceptedAt ~= tonumber(string.sub(ARGV[11], space + 1)) then return {0, status} end
end
local voteCount = nil
if ARGV[10] ~= '' then voteCount = #readVotes() elseif ARGV[6] ~= '' then voteCount = redis.call('HLEN', KEYS[VOTES]) end
if ARGV[6] ~= '' and voteCount ~= tonumber(ARGV[6]) then return {0, status} end
local settling = ARGV[10] ~= '' and cjson.decode(ARGV[10]) or nil
local settles = settling ~= nil and not state[3] and voteCount == settling.votes
local fields = {'status', ARGV[3], 'move', ARGV[7]}
if settles then fields[#fields + 1] = '${COUNTED_MARK}'; fields[#fields + 1] = '1' end
for i = 12, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[9] ~= '' then
  local space = string.find(ARGV[9], ' ', 1, true)
  redis.call('ZADD', KEYS[VOTES + 1], 'NX', string.sub(ARGV[9], 1, space - 1), string.sub(ARGV[9], space + 1))
end
if settles then
  redis.call('ZREM', KEYS[VOTES + 1], unpack(settling.due))
  addNodeCounts(VOTES + 2, settling.counts)
end
for i, indexed in ipairs(OPEN) do
  if status == indexed then redis.call('ZREM', KEYS[2 + i], ARGV[1]) end
  if ARGV[3] == indexed then redis.call('ZADD', KEYS[2 + i], ARGV[4], ARGV[1]) end
end
if has(FINAL, ARGV[3]) then
  redis.call('PUBLISH', ARGV[5], ARGV[1])
  -- The finished index holds every final request until retention removes it (its removal order).
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return applied({1, status, ''}, settles)
`;

// KEYS: request, votes, the voter's stats in the request's bucket. ARGV: nodeId, vote JSON without
// seq (its first field the node id), that JSON's opening up to the node id (`{"nodeId":"…",`). Records
// a vote once per node: in the voting status it counts; once voting closed (the request left it after
// an assignment) it is kept with "late": true and never counts. A request never assigned records
// nothing (asked of the record only in a status a queued request can reach too: \`failed\`). The voter's counter (votes or late) moves with the record, so it counts each vote once. The
// same vote again (re-sent after a lost reply, or redelivered) finds itself stored: it is reported as
// it was recorded (recorded or late), and nothing is written; another vote of that node is a duplicate.
// The node's stored vote is found among the votes read for the answer (by its opening; HSETNX guards
// the write should one not be found that way), so a new vote costs four commands.
// Returns {outcome, status, again ('1' when the vote was stored already, '' otherwise), votes...} with
// every vote; consensus finds in them whether this vote is the one that decides the request.
const RECORD_VOTE_LUA = `
local ASSIGNED = ${luaList(ASSIGNED_STATUSES)}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
local isLate = status ~= ${luaString(VOTING_STATUS)}
local isAssigned = not isLate
for _, assigned in ipairs(ASSIGNED) do if status == assigned then isAssigned = true end end
if not isAssigned and redis.call('HEXISTS', KEYS[1], 'assignment') == 0 then return {'not_assigned', status, ''} end
local votes = redis.call('HVALS', KEYS[2])
local stored = nil
for _, v in ipairs(votes) do
  if string.sub(v, 1, #ARGV[3]) == ARGV[3] then stored = v end
end
local outcome = 'recorded'
local again = ''
if not stored then
  local extra = ',"seq":' .. #votes
  if isLate then
    outcome = 'late'
    extra = extra .. ',"late":true'
  end
  local text = string.sub(ARGV[2], 1, -2) .. extra .. '}'
  if redis.call('HSETNX', KEYS[2], ARGV[1], text) == 1 then
    redis.call('HINCRBY', KEYS[3], isLate and 'late' or 'votes', 1)
    votes[#votes + 1] = text
  else
    stored = redis.call('HGET', KEYS[2], ARGV[1])
  end
end
if stored then
  local sent = string.sub(ARGV[2], 1, -2) .. ',"seq":'
  outcome = 'duplicate'
  if string.sub(stored, 1, #sent) == sent then
    again = '1'
    outcome = string.sub(stored, -13) == ',"late":true}' and 'late' or 'recorded'
  end
end
local result = {outcome, status, again}
for _, v in ipairs(votes) do result[#result + 1] = v end
return result
`;

// The deciding vote's record and the agreement it brings, in one script: RECORD_VOTE, then TRANSITION
// (to \`agreed\`) only when the vote was stored just now, in the voting status, beside exactly the votes
// the caller decided the agreement from: each stored vote before it must begin with one named head
// (node id, round, verdict and result hash: what the tally reads, the value being bound to its hash)
// and end with that vote's arrival number, so the same votes in the same order (none is late while the
// request votes). Both scripts touch only the request's slot. KEYS: RECORD_VOTE's three, then
// TRANSITION's. ARGV: how many votes are named, then per vote its head (\`{"nodeId":…,"round":…,"ok":…,"resultHash":"…",\`)
// and its end (\`,"seq":<n>}\`), RECORD_VOTE's three arguments, then TRANSITION's. Returns RECORD_VOTE's
// outcome, status and again, the number of votes, the votes, then TRANSITION's answer when it ran.
// Re-sent after a lost reply, the record finds its vote stored (again) and the request carrying this
// call's move id: the transition runs to answer 'repeat', writing nothing, so the caller goes on as the
// first run would have. Any other vote stored before (a redelivered job, with a move id of its own)
// runs no transition: the caller finishes as for any redelivered vote.
const RECORD_AND_AGREE_LUA = `${luaSteps({ record: RECORD_VOTE_LUA, transition: TRANSITION_LUA })}
local expected = tonumber(ARGV[1])
local at = 2 * expected + 2
local recorded = record({KEYS[1], KEYS[2], KEYS[3]}, {ARGV[at], ARGV[at + 1], ARGV[at + 2]})
-- A vote stored just now is the last one of the answer; each one before it must be a named vote.
local matches = recorded[1] == 'recorded' and recorded[3] == '' and #recorded - 4 == expected
for i = 4, #recorded - 1 do
  local named = false
  for j = 0, expected - 1 do
    local head, tail = ARGV[2 + 2 * j], ARGV[3 + 2 * j]
    if string.sub(recorded[i], 1, #head) == head and string.sub(recorded[i], -#tail) == tail then named = true end
  end
  matches = matches and named
end
local transitionArgs = {unpack(ARGV, at + 3, #ARGV)}
local isOwnRepeat = recorded[1] == 'recorded' and recorded[3] == '1' and redis.call('HGET', KEYS[1], 'move') == transitionArgs[7]
local reply = {recorded[1], recorded[2], recorded[3] or '', math.max(#recorded - 3, 0)}
for i = 4, #recorded do reply[#reply + 1] = recorded[i] end
if matches or isOwnRepeat then
  for _, v in ipairs(transition({unpack(KEYS, 4, #KEYS)}, transitionArgs)) do reply[#reply + 1] = v end
end
return reply
`;

/** The Lua text of the request scripts, built from the lifecycle (a unit test reads the statuses back out of it). */
export const REQUEST_SCRIPT_SOURCES = { admit: ADMIT_LUA, store: STORE_LUA, transition: TRANSITION_LUA, recordVote: RECORD_VOTE_LUA } as const;

// On one Redis (not a cluster, where the two run on different slots) an acceptance is one script:
// ADMIT, then STORE when admitted. KEYS: ADMIT's, then STORE's. ARGV: how many of the keys and of the
// arguments are ADMIT's, ADMIT's arguments, then STORE's. Returns ADMIT's answer; a request admitted
// ({1, id}) is stored too. One round trip, and no crash can fall between the steps.
const ACCEPT_LUA = `${luaSteps({ admit: ADMIT_LUA, store: STORE_LUA })}
local admitKeys, admitArgs = tonumber(ARGV[1]), tonumber(ARGV[2])
local admitted = admit({unpack(KEYS, 1, admitKeys)}, {unpack(ARGV, 3, 2 + admitArgs)})
if admitted[1] == 1 then store({unpack(KEYS, admitKeys + 1, #KEYS)}, {unpack(ARGV, 3 + admitArgs, #ARGV)}) end
return admitted
`;

const ADMIT = createScript(ADMIT_LUA);
const STORE = createScript(STORE_LUA);
const ACCEPT = createScript(ACCEPT_LUA);
const RELEASE = createScript(RELEASE_LUA);
const TRANSITION = createScript(TRANSITION_LUA);
const RECORD_VOTE = createScript(RECORD_VOTE_LUA);
const RECORD_AND_AGREE = createScript(RECORD_AND_AGREE_LUA);

/**
 * What a guarded transition did: `statusBefore` is null when the request does not exist. `isRepeat`:
 * this very call was applied before (its reply was lost and it was re-sent); `statusBefore` is then
 * the status it moved the request to, and nothing was written again.
 */
export type TransitionResult = { applied: boolean; statusBefore: RequestStatus | null; isRepeat?: true };

/**
 * A transition that closes voting (agree, fail) can settle the request in the same step (\`isSettled\`),
 * or else give back the votes as it left them, when applied.
 */
export type ClosingResult = TransitionResult & { votes?: StoredVote[]; isSettled?: true };

/**
 * What a closing transition may settle with: the node statistics counted from the request's first
 * \`voteCount\` votes, added (with its due entries removed) only if those are all the votes it holds.
 */
export type Settling = { readonly voteCount: number; readonly counts: RequestNodeStats };

/** `recorded`: it counts; `late`: kept after finality, never counted; `not_assigned`: the request was never assigned. */
export type VoteRecording = {
  outcome: 'recorded' | 'late' | 'duplicate' | 'not_assigned' | 'missing';
  status: string;
  /** This very vote was stored already (a redelivered job, or the same script re-sent): nothing was written. */
  isAgain: boolean;
  votes: StoredVote[];
  /** The stored votes' length in characters (what a cache of them holds). */
  votesLength: number;
  /** With an agreement asked for: the transition's result, when it ran (the votes were those named). */
  agreement?: ClosingResult;
};

/** What the tally reads of a vote (its value is bound to its result hash), and its arrival number. */
export type VoteHead = Pick<StoredVote, 'nodeId' | 'round' | 'ok' | 'resultHash' | 'seq'>;

/**
 * An agreement the record of a vote applies in the same step (one script): decided by the caller from
 * the votes it foresaw (`priorVotes`, then this one), and applied only if the votes the request holds
 * before this one are those, in that order.
 */
export type PredictedAgreement = {
  readonly priorVotes: readonly VoteHead[];
  readonly outcome: Outcome;
  readonly nowMs: number;
  /** With a median value: the number of votes it was taken from (see agreeRequest). */
  readonly voteCount?: number;
  readonly settle?: Settling;
};

/** What a caller that has not read a request expects of it: its project and acceptance time (ms). */
export type AcceptedAs = { readonly projectId: string; readonly acceptedAtMs: number };

/** A request as accepted: the immutable fields, its acceptance time and optional idempotency key. */
export type NewRequest = Pick<RequestRecord, 'id' | 'projectId' | 'version' | 'codeCid' | 'source' | 'input' | 'origin'> & {
  readonly createdAtMs: number;
  readonly idempotencyKey?: string;
  /** Requests of the project that may be open (not final) at once, this one included. */
  readonly maxOpen: number;
  /** Set when the request is refused for its input: it is stored as failed, never run. */
  readonly rejection?: Failure;
  /**
   * What makes a later request under the same idempotency key the same request (what its sender
   * asked for); by default the version and input as stored.
   */
  readonly fingerprint?: string;
};

/**
 * What putRequest did: created the request, found it under its idempotency key, refused it (the
 * project has `open` requests not yet final), or found the idempotency key used by another request
 * (`conflict`: another version or input; `id` names the request that holds the key).
 */
export type PutRequestResult = { outcome: 'created' | 'existing'; id: string } | { outcome: 'refused'; open: number } | { outcome: 'no_version' } | { outcome: 'conflict'; id: string };

/** Requests: the guarded writes of their lifecycle, and the reads of the API, the roles and the sweep. */
export interface RequestStore extends RequestReads {
  /**
   * Persists a `queued` request (or a failed one, with `rejection`), or returns the id already
   * stored under the same idempotency key; refuses it while the project has `maxOpen` open requests.
   * Idempotency keys expire after the configured TTL, except those of chain requests (see putChainPublication).
   */
  putRequest(request: NewRequest): Promise<PutRequestResult>;
  /**
   * `queued → assigned` with the committee, and, given `deadlineAtMs`, the request's deadline in the
   * due-time index (kept when the request has one: see putDueEntry) in the same step; not applied (and
   * `statusBefore` says why) from any other status. With `expected`, only while the request has that
   * project and acceptance time (otherwise not applied, `statusBefore` still `queued`): an assignment
   * decided from a job's hints, not from the record.
   */
  assignRequest(id: string, assignment: Assignment, nowMs: number, deadlineAtMs?: number, expected?: AcceptedAs): Promise<TransitionResult>;
  /**
   * `assigned → agreed` with the outcome. With `voteCount`, only while the request holds exactly that
   * many votes (the ones the outcome was decided from); otherwise not applied, `statusBefore` still `assigned`.
   */
  agreeRequest(id: string, outcome: Outcome, nowMs: number, options?: { voteCount?: number; withVotes?: boolean; settle?: Settling }): Promise<ClosingResult>;
  /**
   * `→ failed` from whichever of `from` the request is in. `from` must be a subset of
   * `allowedFrom('failed')`; any other status is a programming error and rejects with an Error.
   */
  failRequest(id: string, from: readonly RequestStatus[], failure: Failure, nowMs: number, options?: { withVotes?: boolean; settle?: Settling }): Promise<ClosingResult>;
  /** `agreed → published` with the ledger entry. */
  publishRequest(id: string, ledger: { seq: number; hash: string }, nowMs: number): Promise<TransitionResult>;
  /**
   * Records a vote once per node: counted while the request is in the voting status (`assigned`), kept
   * as `late` once it left it after an assignment; returns every vote so far, in arrival order. With
   * `agreement`, a vote stored just now after exactly the votes of `priorVotes` also moves the
   * request `assigned → agreed` in the same step (as agreeRequest would, without `withVotes`).
   */
  recordVote(requestId: string, vote: Omit<StoredVote, 'seq'>, agreement?: PredictedAgreement): Promise<VoteRecording>;
  /**
   * Gives back the admission slots that no open request holds any more: requests admitted before
   * `admittedBeforeMs` that are final (their release was cut off) or were never stored (their
   * acceptance died between its two steps). Returns how many it released. Admission calls it when it
   * refuses a request, so a slot lost to a crash never refuses one twice.
   */
  reconcileOpenRequests(projectId: string, admittedBeforeMs: number): Promise<number>;
}

export type { RequestReads } from './request-reads.ts';

/**
 * The publish transition as a step of another script: on one Redis the ledger's append and the
 * publication it records are one script call (ledger.ts), each request's step built here.
 */
export interface PublicationSteps {
  /**
   * TRANSITION's keys and arguments for `agreed → published` with the ledger entry's seq and hash. A
   * caller that may send the call again keeps `moveId` for the request across its attempts: a call
   * re-sent after a lost reply then finds its own move on the request and answers 'repeat' (a fresh
   * move id when none is given).
   */
  callOf(id: string, ledger: { seq: number; hash: string }, nowMs: number, moveId?: string): { keys: string[]; args: (string | number)[] };
  /** A fresh move id (one per request published). */
  nextMoveId(): string;
  /** Runs a step alone (TRANSITION), then finishes it. */
  run(id: string, call: { keys: string[]; args: (string | number)[] }): Promise<TransitionResult>;
  /** What TRANSITION answered, as publishRequest gives it, after giving back the admission slot of a request the step made final. */
  finish(id: string, reply: unknown): Promise<TransitionResult>;
}

/** The request store over the shared connection; non-chain idempotency keys live `idempotencyTtlMs`. */
export function createRequestStore(redis: Redis, keys: Keys, options: { idempotencyTtlMs: number }): RequestStore & { publication: PublicationSteps } {
  return { ...createRequestWrites(redis, keys, options), ...createRequestReads(redis, keys) };
}

function createRequestWrites(redis: Redis, keys: Keys, options: { idempotencyTtlMs: number }): Omit<RequestStore, keyof RequestReads> & { publication: PublicationSteps } {
  const move = async (id: string, to: TransitionTarget, nowMs: number, fields: Record<string, string>, options: Partial<MoveOptions> = {}) =>
    giveBackSlot(id, await transition(redis, keys, { id, to, nowMs, fields, ...options, from: options.from ?? allowedFrom(to) }));
  // A transition's answer without its `open`: when the request is final (now, or by this very call
  // before its reply was lost), its admission slot is given back first. A crash before that leaves the
  // slot taken until admission reconciles it.
  const giveBackSlot = async <T extends { open?: string }>(id: string, { open, ...result }: T): Promise<Omit<T, 'open'>> => {
    if (open) await releaseOpen(id, open);
    return result;
  };
  // Releases that arrive while one is written go together in the next (one script call, one ZREM per open set).
  const release = createBatchedWriter(async (batch: readonly { id: string; projectId: string; version: string }[]) => {
    const byKey = Map.groupBy(batch.flatMap(({ id, projectId, version }) => [keys.projectOpen(projectId), keys.versionOpen(projectId, version)].map((key) => ({ key, id }))), (r) => r.key);
    await RELEASE(redis, [...byKey.keys()], [...byKey.values()].flatMap((releases) => [releases.length, ...releases.map((r) => r.id)]));
    return batch.map(() => undefined);
  }, MAX_RELEASE_BATCH);
  const releaseOpen = async (id: string, open: string) => {
    const match = /^(\S+) (\S+)$/.exec(open);
    if (match) await release({ id, projectId: match[1], version: match[2] });
  };
  // A publication's answer, as move() gives it.
  const finishPublication = (id: string, reply: unknown): Promise<TransitionResult> => giveBackSlot(id, transitionResultOf(reply as TransitionReply, false));
  // Storing the request in its bucket: the second step of an acceptance (ADMIT came first). Only an
  // earlier acceptance's id (found under an idempotency key) can have been removed by retention: the
  // tombstones are read for that one only.
  const storeCall = (request: NewRequest & { id: string }, idemKeyName: string, isEarlierId = false) => {
    const { idempotencyKey: _key, createdAtMs, maxOpen: _max, rejection, ...rest } = request;
    const createdAt = new Date(createdAtMs).toISOString();
    const b = keys.bucketOf(request.id);
    return {
      keys: [keys.request(request.id), keys.stateIndex(b, INITIAL_STATUS), keys.recentRequests(b), keys.finishedRequests(b)],
      args: [
        request.id, JSON.stringify({ ...rest, createdAt }), createdAtMs, rejection ? JSON.stringify(rejection) : '', keys.finalChannel, createdAt,
        `${request.projectId} ${request.version}`, idemKeyName, isEarlierId ? keys.gone(b, Math.floor(timeOfId(request.id) / HOUR_MS)) : '',
        Math.random() < 1 / RECENT_TRIM_EVERY ? '1' : '',
      ],
    };
  };
  const store = (request: NewRequest & { id: string }, idemKeyName: string, isEarlierId = false) => {
    const call = storeCall(request, idemKeyName, isEarlierId);
    return STORE(redis, call.keys, call.args);
  };
  return {
    async putRequest(request) {
      const { idempotencyKey, maxOpen } = request;
      const idemKey = idempotencyKey === undefined ? undefined : keys.idempotency(request.projectId, toHex(sha256(utf8(idempotencyKey))));
      const ttlMs = request.source === 'chain' ? 0 : options.idempotencyTtlMs;
      // Only a request under an idempotency key needs a fingerprint: what a later one under the key is compared with.
      const fingerprint = idemKey === undefined ? '' : (request.fingerprint ?? fingerprintOf(request));
      const admitKeys = [keys.projectRequests(request.projectId), keys.projectOpen(request.projectId), keys.versionOpen(request.projectId, request.version), ...(idemKey ? [idemKey] : [])];
      const admitArgs = [request.id, request.createdAtMs, keys.projectVersions(request.projectId), request.version, maxOpen, ttlMs, request.rejection ? '1' : '', fingerprint];
      const stored = storeCall(request, idemKey ?? '');
      const [code, value] = (redis.isCluster
        ? await ADMIT(redis, admitKeys, admitArgs)
        : await ACCEPT(redis, [...admitKeys, ...stored.keys], [admitKeys.length, admitArgs.length, ...admitArgs, ...stored.args])) as [number, string];
      if (code === -1) return { outcome: 'refused', open: Number(value) };
      if (code === -2) return { outcome: 'no_version' };
      if (code === 1) {
        if (redis.isCluster) await STORE(redis, stored.keys, stored.args);
        return { outcome: 'created', id: request.id };
      }
      // The idempotency key names an earlier acceptance: the same request again, or another one under a
      // key already used (`conflict`). Its own call may have died between the two steps (admitted,
      // never stored): this call, carrying the same request, completes it.
      const [storedId, storedFingerprint] = value.split(' ');
      if (storedFingerprint !== undefined && storedFingerprint !== fingerprint) return { outcome: 'conflict', id: storedId };
      if (storedId === request.id) {
        await store(request, idemKey ?? '');
        return { outcome: 'created', id: storedId };
      }
      if ((await redis.exists(keys.request(storedId))) === 0) await store({ ...request, id: storedId }, idemKey ?? '', true);
      return { outcome: 'existing', id: storedId };
    },
    assignRequest: (id, assignment, nowMs, deadlineAtMs, expected) =>
      move(id, 'assigned', nowMs, { assignment: JSON.stringify(assignment) }, {
        ...(deadlineAtMs === undefined ? {} : { due: { kind: 'deadline', requestId: id, dueAtMs: deadlineAtMs } }),
        ...(expected ? { expected } : {}),
      }),
    agreeRequest: (id, outcome, nowMs, options = {}) => move(id, 'agreed', nowMs, { outcome: JSON.stringify(outcome) }, options),
    failRequest: (id, from, failure, nowMs, options = {}) =>
      move(id, 'failed', nowMs, { failure: JSON.stringify(failure), finishedAt: new Date(nowMs).toISOString() }, { ...options, from }),
    publishRequest: (id, ledger, nowMs) =>
      move(id, 'published', nowMs, publishedFields(ledger, nowMs)),
    publication: {
      callOf: (id, { seq, hash }, nowMs, moveId) =>
        transitionCall(keys, { id, to: 'published', nowMs, fields: publishedFields({ seq, hash }, nowMs), from: allowedFrom('published'), moveId }),
      nextMoveId,
      run: async (id, call) => finishPublication(id, await TRANSITION(redis, call.keys, call.args)),
      finish: finishPublication,
    },
    async recordVote(requestId, vote, agreement) {
      // The vote's head first (the node id leading), so the scripts find the node's stored vote by its opening and RECORD_AND_AGREE compares heads.
      const { nodeId, round, ok, resultHash, ...fields } = vote;
      const text = JSON.stringify({ nodeId, round, ok, resultHash, ...fields });
      const recordKeys = [keys.request(requestId), keys.requestVotes(requestId), keys.nodeStats(keys.bucketOf(requestId), vote.nodeId)];
      const recordArgs = [vote.nodeId, text, openingOf(vote.nodeId)];
      if (!agreement) {
        const [outcome, status, again, ...votes] = (await RECORD_VOTE(redis, recordKeys, recordArgs)) as string[];
        return recordingOf(outcome, status, again, votes);
      }
      const { priorVotes, outcome: agreed, nowMs, ...options } = agreement;
      const call = transitionCall(keys, { id: requestId, to: 'agreed', nowMs, fields: { outcome: JSON.stringify(agreed) }, from: allowedFrom('agreed'), ...options });
      const [outcome, status, again, count, ...rest] = (await RECORD_AND_AGREE(redis, [...recordKeys, ...call.keys], [
        priorVotes.length, ...priorVotes.flatMap((prior) => [headOf(prior), `,"seq":${prior.seq}}`]), ...recordArgs, ...call.args,
      ])) as [string, string, string, number, ...(string | number)[]];
      const recording = recordingOf(outcome, status, again, rest.slice(0, count) as string[]);
      // An agreement never gives back an admission slot (\`agreed\` is not final): nothing to release.
      return rest.length > count ? { ...recording, agreement: transitionResultOf(rest.slice(count) as TransitionReply, false) } : recording;
    },
    async reconcileOpenRequests(projectId, admittedBeforeMs) {
      const ids = await redis.zrangebyscore(keys.projectOpen(projectId), '-inf', `(${admittedBeforeMs}`, 'LIMIT', 0, RECONCILE_BATCH);
      if (ids.length === 0) return 0;
      const records = await Promise.all(ids.map((id) => redis.hmget(keys.request(id), 'status', 'open')));
      let released = 0;
      for (let i = 0; i < ids.length; i++) {
        const [status, open] = records[i];
        const isGone = status === null;
        if (!isGone && !(FINAL_STATUSES as readonly string[]).includes(status)) continue;
        // Admitted but never stored (its acceptance died between the steps), or final and not released.
        await releaseOpen(ids[i], open ?? `${projectId} ${await versionOfOpen(projectId, ids[i])}`);
        released++;
      }
      return released;
    },
  };

  // The version an admitted request holds a slot of, found in the project's version sets (a request never stored has no record to say).
  async function versionOfOpen(projectId: string, id: string): Promise<string> {
    const versions = await redis.hkeys(keys.projectVersions(projectId));
    const scores = await Promise.all(versions.map((v) => redis.zscore(keys.versionOpen(projectId, v), id)));
    return versions[scores.findIndex((score) => score !== null)] ?? '0';
  }
}

/**
 * What makes two requests under one idempotency key the same request: the code version and the input
 * (hashed; as JSON, so key order matters, as it does for the input the code receives). `version` is
 * the one asked for: null when the sender left it to the latest.
 */
export function fingerprintOf(request: { readonly version: number | null; readonly input: unknown }): string {
  return toHex(sha256(utf8(JSON.stringify([request.version, request.input ?? null])))).slice(0, 32);
}

/** Admitted requests looked at per reconciliation at most. */
const RECONCILE_BATCH = 100;

// Move ids: 64 random bits per process, then a count (one random draw per process, not per move).
const MOVE_ID_PREFIX = randomBytes(8).toString('hex');
let moves = 0;
const nextMoveId = () => `${MOVE_ID_PREFIX}.${(moves++).toString(36)}`;

/** How a move is guarded and what it writes beside the record (see TRANSITION_LUA); `from` defaults to every status the lifecycle allows. */
type MoveOptions = { from: readonly RequestStatus[]; voteCount?: number; withVotes?: boolean; due?: DueEntry; settle?: Settling; expected?: AcceptedAs };

// A vote's stored text begins with its head, node id first (recordVote writes them first): the scripts find a node's vote by its opening.
const openingOf = (nodeId: string) => `{"nodeId":${JSON.stringify(nodeId)},`;
const headOf = ({ nodeId, round, ok, resultHash }: VoteHead) => `${JSON.stringify({ nodeId, round, ok, resultHash }).slice(0, -1)},`;

function recordingOf(outcome: string, status: string, again: string, votes: string[]): VoteRecording {
  const votesLength = votes.reduce((length, vote) => length + vote.length, 0);
  return { outcome: outcome as VoteRecording['outcome'], status, isAgain: again === '1', votes: parseVotes(votes), votesLength };
}

/** `moveId`: given by a caller that may send the same move again (a publication); a fresh one otherwise. */
type Move = MoveOptions & { id: string; to: TransitionTarget; nowMs: number; fields: Record<string, string>; moveId?: string };
/** The fields a publication writes: the ledger entry's seq and hash, and the time it finished. */
const publishedFields = (ledger: { seq: number; hash: string }, nowMs: number) => ({ ledger: JSON.stringify(ledger), finishedAt: new Date(nowMs).toISOString() });
/** TRANSITION's answer: applied, the status before, 'repeat', what a final move gives back, settled, then the votes when asked. */
type TransitionReply = [number, string, string?, string?, string?, ...string[]];

/** Moves a request to `to` if it is in one of `from`; `open` says what a final move gives back. */
async function transition(redis: Redis, keys: Keys, move: Move): Promise<ClosingResult & { open?: string }> {
  const call = transitionCall(keys, move);
  return transitionResultOf((await TRANSITION(redis, call.keys, call.args)) as TransitionReply, move.withVotes === true);
}

/** TRANSITION's keys and arguments for a move (a fresh move id per call, unless the move names its own). */
function transitionCall(keys: Keys, move: Move): { keys: string[]; args: (string | number)[] } {
  const { id, to, nowMs, fields, from, voteCount, withVotes, due, settle, expected, moveId = nextMoveId() } = move;
  // A status the lifecycle never leaves for `to` is a caller's bug, not a race: refuse it loudly.
  const disallowed = from.filter((status) => !canTransition(status, to));
  if (disallowed.length > 0) throw new Error(`a request cannot move from ${disallowed.join(', ')} to ${to}; allowed from: ${allowedFrom(to).join(', ')}`);
  const b = keys.bucketOf(id);
  // The due-time index and the node statistics are declared only when written (a declared key counts as written, and not every role may write them).
  const countedNodeIds = settle ? Object.keys(settle.counts) : [];
  const transitionKeys = [
    keys.request(id), keys.finishedRequests(b), ...OPEN_STATUSES.map((status) => keys.stateIndex(b, status)), keys.requestVotes(id),
    ...(due || settle ? [keys.due(b)] : []), ...countedNodeIds.map((nodeId) => keys.nodeStats(b, nodeId)),
  ];
  // An id per call: what tells this call's own effect (re-sent after a lost reply) from another's.
  const dueArg = due ? `${due.dueAtMs} ${dueMemberOf(due.kind, due.requestId)}` : '';
  const settleArg = settle
    ? JSON.stringify({ votes: settle.voteCount, due: DUE_KINDS.map((kind) => dueMemberOf(kind, id)), counts: countedNodeIds.map((nodeId) => settle.counts[nodeId]) })
    : '';
  const expectedArg = expected ? `${expected.projectId} ${expected.acceptedAtMs}` : '';
  const args = [id, from.join(','), to, nowMs, keys.finalChannel, voteCount ?? '', moveId, withVotes ? '1' : '', dueArg, settleArg, expectedArg, ...Object.entries(fields).flat()];
  return { keys: transitionKeys, args };
}

function transitionResultOf(reply: TransitionReply, withVotes: boolean): ClosingResult & { open?: string } {
  const [applied, before, repeat, open, settled, ...votes] = reply;
  return {
    applied: applied === 1, statusBefore: (before || null) as RequestStatus | null,
    ...(repeat ? { isRepeat: true as const } : {}),
    ...(open ? { open } : {}),
    ...(settled ? { isSettled: true as const } : {}),
    ...(withVotes && applied === 1 && !settled ? { votes: parseVotes(votes) } : {}),
  };
}
