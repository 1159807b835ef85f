// The Redis ACL user of each role (least privilege): key patterns, channels and commands, derived
// from the key prefix alone. Pure: no Redis, no files; the embedded Redis, `gateway redis-acl` and
// node onboarding turn these rules into users.
import { createHash } from 'node:crypto';

export const ACL_ROLES = ['webserver', 'receiver', 'executor', 'consensus', 'sender', 'scheduler'] as const;
export type AclRole = (typeof ACL_ROLES)[number];

/** Usernames start with this unless told otherwise (`gateway-receiver`, `gateway-node_…`). */
export const DEFAULT_USERNAME_PREFIX = 'gateway-';

/**
 * Commands of every role, in order (a later rule overrides an earlier one). MULTI/EXEC
 * (`@transaction`) carry the repository's multi-key reads and writes; `@pubsub` is limited by the
 * channel patterns (an executor has none); INFO is BullMQ's version check and ioredis's ready check.
 * ioredis's CLIENT SETINFO is switched off in lib/redis.ts (Redis 7.0 does not know it). CLUSTER
 * SLOTS and INFO are a cluster client's slot map and ready check (SHARDS its newer form); on one Redis
 * they only answer that cluster mode is off.
 */
export const ROLE_COMMANDS = [
  '-@all', '+@read', '+@write', '+@scripting', '+@connection', '+@blocking', '+@transaction', '+@pubsub',
  '-@admin', '-@dangerous', '+info', '+client|setname', '-script|flush', '-script|kill', '-function',
  '+cluster|slots', '+cluster|shards', '+cluster|info',
] as const;

/** An ACL user as rules: what `ACL SETUSER <username> reset on >password …rules` applies. */
export interface AclUser {
  readonly role: AclRole;
  /** Set for a user of one executor node; unset for the shared user of every executor node. */
  readonly nodeId?: string;
  readonly username: string;
  /** Key patterns (`%R~` read-only, `~` read-write), channels (`&`), then commands. */
  readonly rules: readonly string[];
}

export interface AclUserOptions {
  readonly prefix: string;
  readonly role: AclRole;
  /** An executor node's own user: only that node's queues. Without it, the executor user may write every node's queues. */
  readonly nodeId?: string;
  readonly usernamePrefix?: string;
}

/** Who may read (`R`) and write (`W`, which includes reading) which keys, relative to the prefix. */
interface Grant {
  readonly write: readonly string[];
  readonly read: readonly string[];
  readonly channels: boolean;
  readonly commands?: readonly string[];
}

/** A control-plane key pattern (repository keys.ts: projects, code, nodes, rounds, ledger, …). */
const ctl = (pattern: string) => `{ctl}:${pattern}`;
/** A key pattern of every request bucket (a request's record and votes, the bucket's indexes). */
const bucket = (pattern: string) => `{r*}:${pattern}`;

/**
 * The records a request's moves touch: its hash and votes and its bucket's indexes, the project's
 * admission sets (a final move gives back the slot) and its request list.
 */
const REQUEST_STATE = [bucket('req:*'), bucket('idx:*'), bucket('recent'), bucket('finished'), ctl('project:*:requests'), ctl('project:*:open'), ctl('project:*:open:*')];
/**
 * Every queue's keys (queue `q` lives under `P:{q}:*`, lib/queues.ts `queuePrefix`): non-executor
 * roles read them for `/metrics`. `{exec.*}` covers the ticket queues `{exec.<id>.tickets}` too.
 */
const EVERY_QUEUE = ['{incoming}:*', '{exec.*}:*', '{votes.*}:*', '{tickets.*}:*', '{publish}:*'];
const NODE_REGISTRY = [ctl('nodes'), ctl('nodes:*')];
const LEDGER = [ctl('ledger'), ctl('ledger:*')];
/** The export mark and the list of exports. */
const EXPORTS = [ctl('export:*')];
/** The key layout mark (request buckets): recorded by the first role to start (SET NX), checked by every role, executors included. */
const LAYOUT = ctl('layout');
const DUE = bucket('due');

const ROLE_GRANTS: Readonly<Record<Exclude<AclRole, 'executor'>, Grant>> = {
  // The API: projects, code, keys, schedules, chain bindings, the node registry (admin routes), new requests.
  // It records exports `gateway export` wrote, and reads tombstones for `410 gone`.
  webserver: {
    write: [
      ...REQUEST_STATE, ctl('project:*'), ctl('projects'), ctl('code:*'), ctl('apikey:*'), ctl('idem:*'), ctl('schedule:*'), ctl('schedules'),
      ctl('chain:bindings'), ctl('chain:binding-of'), ctl('nodes'), '{incoming}:*', ...EXPORTS, LAYOUT,
    ],
    read: [...NODE_REGISTRY, bucket('node-stats:*'), ctl('round:*'), ...LEDGER, ctl('chain:*'), ...EVERY_QUEUE, bucket('gone:*')],
    channels: true,
    // The queue dashboard lists each queue's workers.
    commands: ['+client|list'],
  },
  // Assignment: consumes `incoming`, writes each member's run job and the request's due time.
  receiver: {
    write: [...REQUEST_STATE, '{incoming}:*', '{exec.*}:*', DUE, LAYOUT],
    read: [ctl('project:*'), ctl('round:*'), ...NODE_REGISTRY, ...EVERY_QUEUE],
    channels: true,
  },
  // Votes: consumes every node's vote queue, sweeps the due-time index, produces `publish`.
  consensus: {
    write: [...REQUEST_STATE, '{votes.*}:*', '{publish}:*', DUE, bucket('node-stats:*'), LAYOUT],
    read: [ctl('project:*'), ctl('round:*'), ...NODE_REGISTRY, ...EVERY_QUEUE],
    channels: true,
  },
  // Publication: consumes `publish`, appends the ledger, runs the chain outbox under its lease
  // (a committed chain request starts its idempotency key's expiry).
  sender: {
    write: [...REQUEST_STATE, '{publish}:*', ...LEDGER, ctl('chain:outbox'), ctl('lease:chain-publisher'), ctl('idem:*'), LAYOUT],
    read: [ctl('project:*'), ctl('round:*'), ...NODE_REGISTRY, ctl('chain:*'), ...EVERY_QUEUE],
    channels: true,
  },
  // Rounds and tickets, cron and chain intake, repair sweeps, retention (compaction, export, the
  // removal of requests, ledger entries and rounds, tombstones), under its lease.
  scheduler: {
    write: [
      ...REQUEST_STATE, ctl('idem:*'), ctl('round:*'), ctl('nodes:last-ticket'), ctl('lease:scheduler'), ctl('schedule:*:refusals'),
      '{incoming}:*', '{exec.*.tickets}:*', '{tickets.*}:*', '{publish}:*', DUE, ...LEDGER, ...EXPORTS, bucket('gone:*'), ctl('retention:*'), LAYOUT,
    ],
    read: [ctl('project:*'), ...LEDGER, ...NODE_REGISTRY, ctl('schedule:*'), ctl('schedules'), ctl('chain:*'), ...EVERY_QUEUE],
    channels: true,
  },
};

/**
 * An executor reads what a run needs and writes only its own queues (every node's, for the shared
 * user). The closing brace of a node's hash tag keeps `{exec.a}` from matching `{exec.ab}` or `{exec.a.tickets}`.
 */
function executorGrant(nodeId: string | undefined): Grant {
  const id = nodeId ?? '*';
  return {
    write: [`{exec.${id}}:*`, `{exec.${id}.tickets}:*`, `{votes.${id}}:*`, `{tickets.${id}}:*`],
    read: [bucket('req:*'), ctl('project:*'), ctl('code:*'), ctl('round:*'), ...NODE_REGISTRY, LAYOUT],
    channels: false,
  };
}

/** The username of a role's user, or of one executor node's user. */
export function aclUsername(role: AclRole, nodeId?: string, usernamePrefix = DEFAULT_USERNAME_PREFIX): string {
  if (nodeId !== undefined) {
    if (role !== 'executor') throw new RangeError('only executor users belong to a node');
    assertNodeId(nodeId);
    return `${usernamePrefix}${nodeId}`;
  }
  return `${usernamePrefix}${role}`;
}

/** The ACL user of a role (or of one executor node) under `prefix`. */
export function createAclUser(options: AclUserOptions): AclUser {
  const { prefix, role, nodeId } = options;
  if (/\s/.test(prefix) || prefix === '') throw new RangeError('the key prefix must be non-empty and without whitespace');
  if (nodeId !== undefined && role !== 'executor') throw new RangeError('only executor users belong to a node');
  if (nodeId !== undefined) assertNodeId(nodeId);
  const grant = role === 'executor' ? executorGrant(nodeId) : ROLE_GRANTS[role];
  const p = escapeGlob(prefix);
  const written = unique(grant.write);
  const readOnly = unique(grant.read).filter((pattern) => !written.includes(pattern));
  return {
    role,
    ...(nodeId !== undefined ? { nodeId } : {}),
    username: aclUsername(role, nodeId, options.usernamePrefix),
    rules: [
      'resetkeys',
      ...written.map((pattern) => `~${p}:${pattern}`),
      ...readOnly.map((pattern) => `%R~${p}:${pattern}`),
      'resetchannels',
      ...(grant.channels ? [`&${p}:events:*`] : []),
      ...ROLE_COMMANDS,
      ...(grant.commands ?? []),
    ],
  };
}

/** One user per role (the executor user shared by every node unless `nodeIds` are given, one user each). */
export function createAclUsers(options: { prefix: string; nodeIds?: readonly string[]; usernamePrefix?: string }): AclUser[] {
  const { prefix, usernamePrefix } = options;
  return ACL_ROLES.flatMap((role) => {
    if (role !== 'executor' || !options.nodeIds?.length) return [createAclUser({ prefix, role, usernamePrefix })];
    return options.nodeIds.map((nodeId) => createAclUser({ prefix, role, nodeId, usernamePrefix }));
  });
}

/** The arguments of `ACL SETUSER` that (re)define the user from scratch with this password. */
export function aclSetuserArgs(user: AclUser, password: string): string[] {
  assertPassword(password);
  return [user.username, 'reset', 'on', `>${password}`, ...user.rules];
}

/** The user as one line of an ACL file; only the password's SHA-256 is written. */
export function renderAclFileLine(user: Pick<AclUser, 'username' | 'rules'>, password: string): string {
  assertPassword(password);
  return ['user', user.username, 'on', `#${createHash('sha256').update(password, 'utf8').digest('hex')}`, ...user.rules].join(' ');
}

/** The ACL file line of the `default` user: every key, channel and command, with this password (the operator's). */
export function renderDefaultUserLine(password: string): string {
  return renderAclFileLine({ username: 'default', rules: ['~*', '&*', '+@all'] }, password);
}

/** A Redis glob matching `text` literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

function unique(patterns: readonly string[]): string[] {
  return [...new Set(patterns)];
}

function assertNodeId(nodeId: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(nodeId)) throw new RangeError('a node id is letters, digits, "_" and "-"');
}

function assertPassword(password: string): void {
  if (password.length < 16 || /\s/.test(password)) throw new RangeError('a Redis password must be at least 16 characters, without whitespace');
}
