// Redis key names, private to lib/repository. Every key starts with one prefix (a hash tag such as
// `{gw}`), so the whole keyspace lands in one Redis Cluster slot and multi-key scripts stay legal.
import type { OpenStatus } from '../protocol/request-lifecycle.ts';

export type Keys = ReturnType<typeof createKeys>;

/**
 * Every key name under `prefix`. Only the repository's stores use it; outside lib/repository it is a
 * test hook, for tests that read or tamper with stored state on purpose (built from the config's
 * `keyPrefix`). Roles never name a key: they call a repository method.
 */
export function createKeys(prefix: string) {
  const p = prefix;
  return {
    prefix: p,
    project: (id: string) => `${p}:project:${id}`,
    projectVersions: (id: string) => `${p}:project:${id}:versions`,
    projectSecrets: (id: string) => `${p}:project:${id}:secrets`,
    projectRequests: (id: string) => `${p}:project:${id}:requests`,
    projectSchedules: (id: string) => `${p}:project:${id}:schedules`,
    projects: `${p}:projects`,
    code: (cid: string) => `${p}:code:${cid}`,
    /** Projects with a code version of this content id: the blob goes when the last one deletes it. */
    codeUsers: (cid: string) => `${p}:code:${cid}:users`,
    apiKey: (hash: string) => `${p}:apikey:${hash}`,
    request: (id: string) => `${p}:req:${id}`,
    requestVotes: (id: string) => `${p}:req:${id}:votes`,
    idempotency: (projectId: string, keyHash: string) => `${p}:idem:${projectId}:${keyHash}`,
    /** Requests by status entered at (ms): what the repair sweep reads instead of scanning. */
    stateIndex: (status: OpenStatus) => `${p}:idx:${status}`,
    /** Open (not final) requests per project (`<projectId>`) and per code version (`<projectId>.v<n>`): admission and version deletion. */
    openRequests: `${p}:open`,
    /** The newest requests of all projects (status page), trimmed to a few hundred. */
    recentRequests: `${p}:recent`,
    /** Requests that reached a final state, by time (throughput, and the order retention removes them in). */
    finishedRequests: `${p}:finished`,
    nodes: `${p}:nodes`,
    /** A node's vote statistics (votes, agreed, disagreed, late, missed); not under `nodes*`, which other roles may write. */
    nodeStats: (id: string) => `${p}:node-stats:${id}`,
    /** The due-time index: `deadline.<requestId>` and `grace.<requestId>` scored by when they are due (ms); consensus sweeps it. */
    due: `${p}:due`,
    nodeLastTicket: `${p}:nodes:last-ticket`,
    roundLatest: `${p}:round:latest`,
    round: (n: number) => `${p}:round:${n}`,
    roundTickets: (n: number) => `${p}:round:${n}:tickets`,
    ledger: `${p}:ledger`,
    ledgerByRequest: `${p}:ledger:by-request`,
    ledgerHead: `${p}:ledger:head`,
    /** `<seq> <hash>` of the last entry retention removed from the list's front: list index = seq - 1 - base seq. */
    ledgerBase: `${p}:ledger:base`,
    /** The newest round retention removed, as a round record: the seed the oldest kept round's proof starts from. */
    roundAnchor: `${p}:round:anchor`,
    /** The last seq whose ledger entry and receipt were exported: retention removes no published request past it. */
    exportThrough: `${p}:export:through`,
    /** The exports, one JSON member each (files, seq range, creation-time range), scored by their last seq. */
    exportFiles: `${p}:export:files`,
    /** Tombstones of the removed requests created in one hour (`<hour>` = ms / 3600000): id → `<projectId> <seq>`; the key expires. */
    gone: (hour: number) => `${p}:gone:${hour}`,
    /** The last ledger seq whose request the retention sweep compacted (or skipped). */
    retentionCompacted: `${p}:retention:compacted`,
    schedule: (id: string) => `${p}:schedule:${id}`,
    schedules: `${p}:schedules`,
    scheduleRefusals: (id: string) => `${p}:schedule:${id}:refusals`,
    lease: (name: string) => `${p}:lease:${name}`,
    chainBindings: `${p}:chain:bindings`,
    chainBindingOf: `${p}:chain:binding-of`,
    /** Published chain requests waiting for the contract, scored by when to try next. */
    chainOutbox: `${p}:chain:outbox`,
    /** Pub/sub channel announcing requests that reached a final state. */
    finalChannel: `${p}:events:final`,
  };
}
