// Redis key names, private to lib/repository. Every key is `<prefix>:{<tag>}:<name>`: the hash tag
// decides the Redis Cluster slot, so a multi-key script stays legal when all its keys share a tag.
// - `{ctl}`: the control plane (projects, code, API keys, nodes, rounds, the ledger, schedules, chain,
//   exports, leases), and per project its admission sets and its list of requests.
// - `{r<b>}`: request bucket b (`bucketOf(id)`): a request's record and votes, and the bucket's state
//   indexes, due-time index, recent and finished lists, node statistics and tombstones. Every
//   per-request script touches exactly one bucket; readers of an index visit every bucket.
// BullMQ queues carry a tag each (lib/queues.ts, queuePrefix). On one Redis the tags change nothing.
import type { OpenStatus } from '../protocol/request-lifecycle.ts';

export type Keys = ReturnType<typeof createKeys>;

/** Buckets at most: the bucket is read from the last two characters of a request id (32 × 32 values). */
export const MAX_REQUEST_BUCKETS = 256;

const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * The bucket of a request id: its last two (random) characters modulo `buckets`. Cheap, stable, and
 * close to uniform (1024 values). Anything that is not an id (a hostile string) still maps to a bucket.
 */
export function requestBucket(id: string, buckets: number): number {
  if (buckets <= 1) return 0;
  const a = Math.max(0, ID_ALPHABET.indexOf(id.charAt(id.length - 2)));
  const b = Math.max(0, ID_ALPHABET.indexOf(id.charAt(id.length - 1)));
  return (a * 32 + b) % buckets;
}

/**
 * Every key name under `prefix`, with request state spread over `buckets` tags. Only the
 * repository's stores use it; outside lib/repository it is a test hook, for tests that read or tamper
 * with stored state on purpose (built from the config's `keyPrefix` and `requestBuckets`). Roles never
 * name a key: they call a repository method.
 */
export function createKeys(prefix: string, options: { buckets?: number } = {}) {
  const buckets = options.buckets ?? 1;
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > MAX_REQUEST_BUCKETS) throw new RangeError(`request buckets must be 1..${MAX_REQUEST_BUCKETS}`);
  const c = `${prefix}:{ctl}`;
  const bucket = (b: number) => `${prefix}:{r${b}}`;
  const ofRequest = (id: string) => bucket(requestBucket(id, buckets));
  return {
    prefix,
    /** How many request buckets there are, and each bucket number. */
    buckets,
    bucketNumbers: Array.from({ length: buckets }, (_, b) => b),
    bucketOf: (requestId: string) => requestBucket(requestId, buckets),
    /** The layout this key set was built with; stored once, so that a gateway with another layout refuses the data. */
    layout: `${c}:layout`,
    project: (id: string) => `${c}:project:${id}`,
    projectVersions: (id: string) => `${c}:project:${id}:versions`,
    projectSecrets: (id: string) => `${c}:project:${id}:secrets`,
    projectRequests: (id: string) => `${c}:project:${id}:requests`,
    projectSchedules: (id: string) => `${c}:project:${id}:schedules`,
    /** The hash of the project's current API key (what rotation replaces and deletion removes). */
    projectApiKey: (id: string) => `${c}:project:${id}:apikey`,
    /** Open (not final) requests of a project: id → when admitted (ms). Admission counts it; a request leaving the open states leaves it. */
    projectOpen: (id: string) => `${c}:project:${id}:open`,
    /** Open requests of one code version of a project (a version in use cannot be deleted). */
    versionOpen: (id: string, version: number | string) => `${c}:project:${id}:open:v${version}`,
    projects: `${c}:projects`,
    code: (cid: string) => `${c}:code:${cid}`,
    /** Projects with a code version of this content id: the blob goes when the last one deletes it. */
    codeUsers: (cid: string) => `${c}:code:${cid}:users`,
    apiKey: (hash: string) => `${c}:apikey:${hash}`,
    idempotency: (projectId: string, keyHash: string) => `${c}:idem:${projectId}:${keyHash}`,
    request: (id: string) => `${ofRequest(id)}:req:${id}`,
    requestVotes: (id: string) => `${ofRequest(id)}:req:${id}:votes`,
    /** Requests of bucket b by status entered at (ms): what the repair sweep reads instead of scanning. */
    stateIndex: (b: number, status: OpenStatus) => `${bucket(b)}:idx:${status}`,
    /** The newest requests of bucket b (status page), trimmed to a few hundred. */
    recentRequests: (b: number) => `${bucket(b)}:recent`,
    /** Requests of bucket b that reached a final state, by time (throughput, and the order retention removes them in). */
    finishedRequests: (b: number) => `${bucket(b)}:finished`,
    /** Bucket b's due-time index: `deadline.<requestId>` and `grace.<requestId>` scored by when they are due (ms); consensus sweeps it. */
    due: (b: number) => `${bucket(b)}:due`,
    /** A node's vote statistics counted in bucket b (votes, agreed, disagreed, late, missed); readers add up the buckets. */
    nodeStats: (b: number, nodeId: string) => `${bucket(b)}:node-stats:${nodeId}`,
    /** Tombstones of bucket b's removed requests created in one hour (`<hour>` = ms / 3600000): id → `<projectId> <seq>`; the key expires. */
    gone: (b: number, hour: number) => `${bucket(b)}:gone:${hour}`,
    nodes: `${c}:nodes`,
    nodeLastTicket: `${c}:nodes:last-ticket`,
    roundLatest: `${c}:round:latest`,
    round: (n: number) => `${c}:round:${n}`,
    roundTickets: (n: number) => `${c}:round:${n}:tickets`,
    ledger: `${c}:ledger`,
    ledgerByRequest: `${c}:ledger:by-request`,
    ledgerHead: `${c}:ledger:head`,
    /** `<seq> <hash>` of the last entry retention removed from the list's front: list index = seq - 1 - base seq. */
    ledgerBase: `${c}:ledger:base`,
    /** The newest round retention removed, as a round record: the seed the oldest kept round's proof starts from. */
    roundAnchor: `${c}:round:anchor`,
    /** The last seq whose ledger entry and receipt were exported: retention removes no published request past it. */
    exportThrough: `${c}:export:through`,
    /** The exports, one JSON member each (files, seq range, creation-time range), scored by their last seq. */
    exportFiles: `${c}:export:files`,
    /** The last ledger seq whose request the retention sweep compacted (or skipped). */
    retentionCompacted: `${c}:retention:compacted`,
    schedule: (id: string) => `${c}:schedule:${id}`,
    schedules: `${c}:schedules`,
    scheduleRefusals: (id: string) => `${c}:schedule:${id}:refusals`,
    lease: (name: string) => `${c}:lease:${name}`,
    chainBindings: `${c}:chain:bindings`,
    chainBindingOf: `${c}:chain:binding-of`,
    /** Published chain requests waiting for the contract, scored by when to try next. */
    chainOutbox: `${c}:chain:outbox`,
    /** Pub/sub channel announcing requests that reached a final state (not a key: channels have no slot in Redis 7.0). */
    finalChannel: `${prefix}:events:final`,
  };
}
