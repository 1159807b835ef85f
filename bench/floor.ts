// The floor of bench:pipeline: a bare-BullMQ program with the gateway's hops and fan-out, and only the
// work the protocol cannot avoid, done the simplest way. HTTP front (node:http) → `incoming` → one
// job in each of the three `exec.<node>` queues (a fresh node:vm context runs the function, the
// node signs its vote with Ed25519) → `votes.<node>` → a 2-of-3 count (each vote verified; one
// MULTI records it and reads the others) → `publish` (the quorum's votes verified again) → one RPUSH.
//
// Usage: node bench/floor.ts <role>... with roles front, receiver, executor-0..2, consensus, sender
// (all of them: `all`); FLOOR_REDIS_URL, FLOOR_PREFIX, FLOOR_PORT. Prints `ready` once it takes work.
// The published list holds `{id, acceptedAtMs, publishedAtMs}` per request (what the bench reads).
import { createPrivateKey, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import vm from 'node:vm';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';

/** The function every committee member runs: the gateway benchmark's project code. */
export const FLOOR_FUNCTION = '(input) => ({ double: input.n * 2 })';
export const FLOOR_ROLES = ['front', 'receiver', 'executor-0', 'executor-1', 'executor-2', 'consensus', 'sender'] as const;
/** The list the sender appends to, under the prefix. */
export const publishedKey = (prefix: string) => `${prefix}:floor:published`;

// Copied from the gateway, not imported, so that the floor stays put while the gateway changes:
// lib/queues.ts (DEFAULT_JOB_OPTIONS and the events stream of its producers), lib/config.ts
// (GATEWAY_WORKER_CONCURRENCY, GATEWAY_EXECUTOR_CONCURRENCY) and lib/runtime/worker-locks.ts.
const JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 100 },
  removeOnComplete: { age: 600, count: 2000 },
  removeOnFail: { age: 24 * 3600, count: 5000 },
};
const EVENTS_MAX_LEN = 1000;
const WORKER_CONCURRENCY = 32;
const EXECUTOR_CONCURRENCY = 8;
const SHORT_JOB = { lockDuration: 4000, lockRenewTime: 1000, stalledInterval: 1000, maxStalledCount: 3 };
const EXEC_LOCKS = { lockDuration: 6000, lockRenewTime: 1000, stalledInterval: 2000, maxStalledCount: 2 };
/** The copied settings, for bench:pipeline to compare with the gateway's current ones. */
export const FLOOR_SETTINGS = {
  jobOptions: JOB_OPTIONS, eventsMaxLen: EVENTS_MAX_LEN, workerConcurrency: WORKER_CONCURRENCY, executorConcurrency: EXECUTOR_CONCURRENCY,
  locks: { incoming: SHORT_JOB, exec: EXEC_LOCKS, votes: SHORT_JOB, publish: SHORT_JOB },
};
const RUN_TIMEOUT_MS = 1000;
const QUORUM = 2;

const NODE_IDS = ['n0', 'n1', 'n2'] as const;
// Ed25519 keys from fixed seeds (RFC 8410 PKCS#8 prefix + 32-byte seed): every process knows every public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const privateKeys = new Map<string, KeyObject>(NODE_IDS.map((id) => [id, createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Buffer.alloc(32, id)]), format: 'der', type: 'pkcs8' })]));
const publicKeys = new Map<string, KeyObject>([...privateKeys].map(([id, key]) => [id, createPublicKey(key)]));

interface Request { id: string; input: unknown; acceptedAtMs: number }
interface Vote { id: string; nodeId: string; resultJson: string; signature: string }
/** A vote as it travels, with the request's accepted-at time (for the latency the bench reads). */
interface VoteJob { vote: Vote; acceptedAtMs: number }
interface Published { id: string; acceptedAtMs: number; votes: Vote[] }

const voteMessage = (vote: Omit<Vote, 'signature'>) => Buffer.from(`floor/vote\n${vote.id}\n${vote.nodeId}\n${vote.resultJson}`);
const isSigned = (vote: Vote) => {
  const key = publicKeys.get(vote.nodeId);
  return key !== undefined && verify(null, voteMessage(vote), key, Buffer.from(vote.signature, 'hex'));
};

/** A fresh context per run, the script compiled per run, JSON in and out (bench:sandbox's node:vm baseline). */
function runFunction(input: unknown): string {
  const context = vm.createContext({ inputJson: JSON.stringify(input) });
  return new vm.Script(`JSON.stringify((${FLOOR_FUNCTION})(JSON.parse(inputJson)))`).runInContext(context, { timeout: RUN_TIMEOUT_MS }) as string;
}

interface Stoppable { close(): Promise<unknown> }

async function startRole(role: string, url: string, prefix: string, port: number): Promise<Stoppable[]> {
  const connection = new Redis(url, { maxRetriesPerRequest: null, connectionName: `floor-${role}` });
  const queues = new Map<string, Queue>();
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = new Queue(name, { connection, prefix, defaultJobOptions: JOB_OPTIONS, streams: { events: { maxLen: EVENTS_MAX_LEN } } }).on('error', () => undefined)));
    return q;
  };
  // Errors (a lock lost while the machine stalls the loop: the job runs again) are BullMQ's to recover
  // from; the gateway logs them at warn, the floor keeps quiet.
  const worker = <T>(name: string, concurrency: number, locks: typeof SHORT_JOB, handle: (data: T) => Promise<string>) =>
    new Worker<T>(name, (job: Job<T>) => handle(job.data), { connection, prefix, concurrency, ...locks }).on('error', () => undefined);
  const closeAll = (...first: Stoppable[]): Stoppable[] => [...first, { close: () => Promise.all([...queues.values()].map((q) => q.close())) }, { close: () => connection.quit() }];

  if (role === 'front') {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        let input: unknown;
        try {
          input = (JSON.parse(Buffer.concat(chunks).toString()) as { input?: unknown }).input;
        } catch {
          return reply(400, { error: 'invalid_body' });
        }
        const request: Request = { id: randomUUID(), input, acceptedAtMs: Date.now() };
        // Accepted once Redis has the job (the AOF with appendfsync always): the gateway's promise.
        queue('incoming').add('request', request, { jobId: request.id })
          .then(() => reply(202, { id: request.id, status: 'queued' }), () => reply(503, { error: 'unavailable' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return closeAll({ close: () => closeServer(server) });
  }
  if (role === 'receiver') {
    return closeAll(worker<Request>('incoming', WORKER_CONCURRENCY, SHORT_JOB, async (request) => {
      await Promise.all(NODE_IDS.map((nodeId) => queue(`exec.${nodeId}`).add('run', request, { jobId: `${request.id}.${nodeId}` })));
      return 'assigned';
    }));
  }
  if (role.startsWith('executor-')) {
    const nodeId = NODE_IDS[Number(role.slice('executor-'.length))];
    if (!nodeId) throw new Error(`no such executor: ${role}`);
    const key = privateKeys.get(nodeId)!;
    return closeAll(worker<Request>(`exec.${nodeId}`, EXECUTOR_CONCURRENCY, EXEC_LOCKS, async (request) => {
      const body = { id: request.id, nodeId, resultJson: runFunction(request.input) };
      const vote: Vote = { ...body, signature: sign(null, voteMessage(body), key).toString('hex') };
      await queue(`votes.${nodeId}`).add('vote', { vote, acceptedAtMs: request.acceptedAtMs } satisfies VoteJob, { jobId: `vote.${request.id}.${nodeId}` });
      return 'voted';
    }));
  }
  if (role === 'consensus') {
    const workers = NODE_IDS.map((nodeId) => worker<VoteJob>(`votes.${nodeId}`, WORKER_CONCURRENCY, SHORT_JOB, async ({ vote, acceptedAtMs }) => {
      if (vote.nodeId !== nodeId || !isSigned(vote)) throw new UnrecoverableError('bad vote');
      const votesKey = `${prefix}:floor:votes:${vote.id}`;
      const [, [, all]] = (await connection.multi().hset(votesKey, nodeId, JSON.stringify(vote)).hgetall(votesKey).exec()) as [unknown, [unknown, Record<string, string>]];
      const agreeing = Object.values(all).map((text) => JSON.parse(text) as Vote).filter((v) => v.resultJson === vote.resultJson);
      // Exactly one vote brings its value to the quorum (the MULTI orders them): that one adds the publish job.
      if (agreeing.length !== QUORUM) return 'counted';
      await queue('publish').add('publish', { id: vote.id, acceptedAtMs, votes: agreeing } satisfies Published, { jobId: `publish.${vote.id}` });
      return 'agreed';
    }));
    return closeAll(...workers);
  }
  if (role === 'sender') {
    return closeAll(worker<Published>('publish', WORKER_CONCURRENCY, SHORT_JOB, async (published) => {
      if (!published.votes.every(isSigned)) throw new UnrecoverableError('unverified');
      await connection.rpush(publishedKey(prefix), JSON.stringify({ id: published.id, acceptedAtMs: published.acceptedAtMs, publishedAtMs: Date.now() }));
      return 'published';
    }));
  }
  throw new Error(`unknown role ${role}; roles: ${FLOOR_ROLES.join(', ')}, all`);
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

if (import.meta.main) {
  const roles = process.argv.slice(2).flatMap((r) => (r === 'all' ? [...FLOOR_ROLES] : [r]));
  const url = process.env.FLOOR_REDIS_URL ?? '';
  const prefix = process.env.FLOOR_PREFIX ?? 'gw';
  if (!url || roles.length === 0) throw new Error('usage: FLOOR_REDIS_URL=redis://… node bench/floor.ts <role>… | all');
  const started: Stoppable[] = [];
  for (const role of roles) started.push(...(await startRole(role, url, prefix, Number(process.env.FLOOR_PORT ?? 0))));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void (async () => {
      for (const s of started) await s.close().catch(() => undefined);
      process.exit(0);
    })();
  });
}
