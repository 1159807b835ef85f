// The gateway's Redis client and BullMQ on a real 3-master Redis Cluster, logged in as a role-like
// ACL user: which CLUSTER subcommands that user needs, queues placed by their hash tag, one-slot
// scripts, and the key patterns still enforced.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { ROLE_COMMANDS } from '../../lib/redis-acl.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { createScript } from '../../lib/repository/script.ts';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.ts';
import { allowSharedFixtures } from '../support/root-hooks.ts';

/** What a role's user needs on top of ROLE_COMMANDS on a cluster: ioredis's slot map and ready check, the shard check. */
const CLUSTER_COMMANDS = ['+cluster|slots', '+cluster|info', '+cluster|shards'];
const ADMIN_PASSWORD = 'cluster-admin-password-0123456789';
const USER = { username: 'gw-test', password: 'gw-test-password-0123456789' };
const BARE_USER = { username: 'gw-bare', password: 'gw-bare-password-0123456789' };
const ACL_FILE = [
  `user default on >${ADMIN_PASSWORD} ~* &* +@all`,
  `user ${USER.username} on >${USER.password} ~gw:* &gw:* ${ROLE_COMMANDS.join(' ')} ${CLUSTER_COMMANDS.join(' ')}`,
  '',
].join('\n');

interface AclDenial {
  readonly username: string;
  readonly reason: string;
  readonly object: string;
}

describe('Redis Cluster', function () {
  this.timeout(120_000);
  allowSharedFixtures(this);
  let cluster: TestRedisCluster;
  /** One plain connection per node as the default user: to look at what each node holds. */
  let admins: Redis[];
  let redis: Redis;

  before(async () => {
    cluster = await startRedisCluster({ aclFileText: ACL_FILE, password: ADMIN_PASSWORD });
    admins = cluster.nodes.map((node, i) => createRedis(`redis://:${ADMIN_PASSWORD}@${node.host}:${node.port}`, `test-cluster-admin-${i}`));
    redis = createRedis(cluster.seedUrl, 'test', USER, { cluster: true });
  });
  after(async () => {
    if (redis) await closeRedis(redis);
    for (const admin of admins ?? []) await closeRedis(admin);
    await cluster?.stop();
  });
  beforeEach(async () => {
    for (const admin of admins) await admin.call('ACL', 'LOG', 'RESET');
  });

  /** Every ACL refusal logged on any node since the last reset. */
  async function aclDenials(): Promise<AclDenial[]> {
    const denials: AclDenial[] = [];
    for (const admin of admins) {
      for (const entry of (await admin.call('ACL', 'LOG')) as unknown[][]) {
        const fields = pairs(entry);
        denials.push({ username: String(fields.get('username')), reason: String(fields.get('reason')), object: String(fields.get('object')) });
      }
    }
    return denials;
  }

  /** The node connection of the master that owns `key`'s slot, by CLUSTER SHARDS. */
  async function ownerOf(key: string): Promise<{ slot: number; owner: Redis; others: Redis[] }> {
    const slot = (await admins[0]!.call('CLUSTER', 'KEYSLOT', key)) as number;
    const shard = (await shards()).find((s) => s.start <= slot && slot <= s.end)!;
    const index = cluster.nodes.findIndex((node) => node.port === shard.port);
    return { slot, owner: admins[index]!, others: admins.filter((_, i) => i !== index) };
  }

  /** CLUSTER SHARDS (as the limited user) as one slot range per master, in slot order. */
  async function shards(): Promise<{ start: number; end: number; port: number; role: string; health: string }[]> {
    const reply = (await redis.call('CLUSTER', 'SHARDS')) as unknown[][];
    return reply.map((shard) => {
      const fields = pairs(shard);
      const slots = fields.get('slots') as number[];
      const nodes = (fields.get('nodes') as unknown[][]).map(pairs);
      expect(slots).to.have.length(2);
      expect(nodes).to.have.length(1);
      return { start: slots[0]!, end: slots[1]!, port: nodes[0]!.get('port') as number, role: String(nodes[0]!.get('role')), health: String(nodes[0]!.get('health')) };
    }).sort((a, b) => a.start - b.start);
  }

  it('has every master own an even share of the slots (CLUSTER SHARDS as the limited user)', async () => {
    const ports = cluster.nodes.map((node) => node.port);
    expect(await shards()).to.deep.equal([
      { start: 0, end: 5460, port: ports[0], role: 'master', health: 'online' },
      { start: 5461, end: 10921, port: ports[1], role: 'master', health: 'online' },
      { start: 10922, end: 16383, port: ports[2], role: 'master', health: 'online' },
    ]);
    expect(redis.status).to.equal('ready');
    expect(await aclDenials()).to.deep.equal([]);
  });

  for (const { name, compute, input, expected } of [
    { name: 'incoming', compute: (n: number) => n * 2, input: 21, expected: 42 },
    { name: 'publish', compute: (n: number) => n + 1, input: 41, expected: 42 },
  ]) {
    it(`runs BullMQ queue ${name} under prefix gw:{${name}} with all its keys on the master owning that tag`, async () => {
      const prefix = `gw:{${name}}`;
      const queue = new Queue(name, { connection: redis, prefix });
      const worker = new Worker(name, async (job) => compute(job.data.n as number), { connection: redis, prefix });
      try {
        const completed = once(worker, 'completed');
        await queue.add('job', { n: input }, { jobId: 'j1' });
        const [job, result] = await completed;
        expect([job.id, result]).to.deep.equal(['j1', expected]);
      } finally {
        await worker.close();
        await queue.close();
      }
      const { slot, owner, others } = await ownerOf(`${prefix}:${name}:j1`);
      expect(slot).to.equal(await admins[0]!.call('CLUSTER', 'KEYSLOT', `${prefix}:${name}:wait`));
      expect(slot).to.equal(await admins[0]!.call('CLUSTER', 'KEYSLOT', name));
      expect(await owner.hget(`${prefix}:${name}:j1`, 'returnvalue')).to.equal(String(expected));
      expect(await owner.zrange(`${prefix}:${name}:completed`, '0', '-1')).to.deep.equal(['j1']);
      const keys = await owner.keys(`${prefix}:*`);
      expect(keys).to.include.members([`${prefix}:${name}:j1`, `${prefix}:${name}:completed`, `${prefix}:${name}:meta`]);
      expect(keys.every((key) => key.startsWith(`${prefix}:${name}:`))).to.equal(true);
      for (const other of others) expect(await other.keys(`${prefix}:*`)).to.deep.equal([]);
      expect(await aclDenials()).to.deep.equal([]);
    });
  }

  it('runs an EVALSHA script over two keys of one tag, and refuses two tags with CROSSSLOT', async () => {
    const lua = "return {redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('INCRBY', KEYS[2], ARGV[1])}";
    const script = createScript(lua);
    const keys = ['gw:{p.demo}:a', 'gw:{p.demo}:b'];
    // The first call loads the script (NOSCRIPT, then EVAL) on the tag's master; the second runs by SHA.
    expect(await script(redis, keys, [5])).to.deep.equal([5, 5]);
    expect(await script(redis, keys, [7])).to.deep.equal([12, 12]);
    const { owner, others } = await ownerOf(keys[0]!);
    const sha = createHash('sha1').update(lua).digest('hex');
    expect(await owner.call('SCRIPT', 'EXISTS', sha)).to.deep.equal([1]);
    for (const other of others) expect(await other.call('SCRIPT', 'EXISTS', sha)).to.deep.equal([0]);
    expect(await owner.mget(...keys)).to.deep.equal(['12', '12']);

    const crossSlot = ['gw:{p.demo}:a', 'gw:{p.other}:b'];
    expect(await admins[0]!.call('CLUSTER', 'KEYSLOT', crossSlot[1]!)).to.not.equal(await admins[0]!.call('CLUSTER', 'KEYSLOT', crossSlot[0]!));
    // The cluster client sends it (no auto-pipelining) and the node refuses it; a node asked directly too.
    const clientError = await script(redis, crossSlot, [1]).then(() => undefined, (e: Error) => e);
    expect(clientError?.message).to.equal("CROSSSLOT Keys in request don't hash to the same slot");
    const node = cluster.nodes[admins.indexOf(owner)]!;
    const direct = createRedis(`redis://${node.host}:${node.port}`, 'test-node', USER);
    try {
      const nodeError = await direct.evalsha(sha, 2, ...crossSlot, 1).then(() => undefined, (e: Error) => e);
      expect(nodeError?.message).to.equal("CROSSSLOT Keys in request don't hash to the same slot");
    } finally {
      await closeRedis(direct);
    }
    expect(await owner.get('gw:{p.demo}:a')).to.equal('12');
    expect(await aclDenials()).to.deep.equal([]);
  });

  it('carries pub/sub on gw:* channels across the masters', async () => {
    const subscriber = createRedis(cluster.seedUrl, 'test-subscriber', USER, { cluster: true });
    try {
      await subscriber.subscribe('gw:{ctl}:final');
      const message = once(subscriber, 'message');
      // Published through whichever node the client picks; Redis Cluster forwards it to every node.
      expect(await redis.publish('gw:{ctl}:final', 'r1')).to.be.a('number');
      expect(await message).to.deep.equal(['gw:{ctl}:final', 'r1']);
    } finally {
      await closeRedis(subscriber);
    }
    expect(await aclDenials()).to.deep.equal([]);
  });

  it('refuses the limited user (NOPERM) a key outside gw:*', async () => {
    expect(await redis.set('gw:{p.demo}:allowed', '1')).to.equal('OK');
    const error = await redis.set('other:x', '1').then(() => undefined, (e: Error) => e);
    expect(error?.message).to.equal('NOPERM this user has no permissions to access one of the keys used as arguments');
    expect(await aclDenials()).to.deep.equal([{ username: USER.username, reason: 'key', object: 'other:x' }]);
  });

  // Why each rule is there: a user with the role's rules alone never gets a slot map, and with
  // CLUSTER SLOTS alone it fails ioredis's ready check.
  for (const { added, refused } of [
    { added: [], refused: 'cluster|slots' },
    { added: ['+cluster|slots'], refused: 'cluster|info' },
  ]) {
    it(`keeps a cluster client from getting ready without ${refused}`, async () => {
      const rules = ['reset', 'on', `>${BARE_USER.password}`, '~gw:*', '&gw:*', ...ROLE_COMMANDS, '-cluster', ...added];
      for (const admin of admins) await admin.call('ACL', 'SETUSER', BARE_USER.username, ...rules);
      const bare = createRedis(cluster.seedUrl, 'test-bare', BARE_USER, { cluster: true });
      bare.on('error', () => undefined);
      try {
        const deadline = Date.now() + 30_000;
        let denials: AclDenial[] = [];
        while (denials.length === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          denials = await aclDenials();
        }
        expect(denials.map((d) => [d.username, d.reason, d.object])).to.deep.include([BARE_USER.username, 'command', refused]);
        expect(new Set(denials.map((d) => d.object))).to.deep.equal(new Set([refused]));
        expect(bare.status).to.not.equal('ready');
      } finally {
        await closeRedis(bare);
        for (const admin of admins) await admin.call('ACL', 'DELUSER', BARE_USER.username);
      }
    });
  }
});

/** A RESP map as ioredis's legacy reply mapping gives it (a flat key, value list). */
function pairs(list: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i < list.length; i += 2) map.set(String(list[i]), list[i + 1]);
  return map;
}
