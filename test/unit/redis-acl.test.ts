// The ACL rules generator (lib/redis-acl.ts) and the ACL file of `npm start` (lib/acl-file.ts).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { writeAclFile } from '../../lib/acl-file.ts';
import { queuePrefix } from '../../lib/queues.ts';
import { aclSetuserArgs, aclUsername, createAclUser, createAclUsers, escapeGlob, renderAclFileLine, ROLE_COMMANDS, type AclUser } from '../../lib/redis-acl.ts';

const NODE = 'node_0123456789abcdef0123';
const patterns = (rules: readonly string[], kind: '~' | '%R~') => rules.filter((r) => r.startsWith(kind)).map((r) => r.slice(kind.length));
/** Whether a key pattern (only `*` and backslash escapes, as the generator writes them) matches `key`. */
const globMatches = (pattern: string, key: string) =>
  new RegExp(`^${pattern.replace(/\\(.)|(\*)|([^\\*])/g, (_, escaped, star, plain) => (star ? '.*' : (escaped ?? plain).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))}$`).test(key);
/** A BullMQ key of queue `name` under the prefix `gw`. */
const queueKey = (name: string) => `${queuePrefix('gw', name)}:${name}:wait`;
const queuesOf = (user: AclUser, kind: '~' | '%R~', names: readonly string[]) => names.filter((name) => patterns(user.rules, kind).some((p) => globMatches(p, queueKey(name))));

describe('Redis ACL rules', () => {
  it('limits an executor node to writing its own four queues and reading what a run needs', () => {
    const user = createAclUser({ prefix: 'gw', role: 'executor', nodeId: NODE });
    expect(user.username).to.equal(`gateway-${NODE}`);
    expect(patterns(user.rules, '~')).to.deep.equal([`gw:{exec.${NODE}}:*`, `gw:{exec.${NODE}.tickets}:*`, `gw:{votes.${NODE}}:*`, `gw:{tickets.${NODE}}:*`]);
    expect(patterns(user.rules, '%R~')).to.deep.equal(['gw:{r*}:req:*', 'gw:{ctl}:project:*', 'gw:{ctl}:code:*', 'gw:{ctl}:round:*', 'gw:{ctl}:nodes', 'gw:{ctl}:nodes:*', 'gw:{ctl}:layout']);
    // No pub/sub channel, and the commands in their order.
    expect(user.rules.slice(user.rules.indexOf('resetchannels'))).to.deep.equal(['resetchannels', ...ROLE_COMMANDS]);
  });

  it('gives the shared executor user every node\'s queues, and no role writes what it only reads', () => {
    const shared = createAclUser({ prefix: 'gw', role: 'executor' });
    expect(shared.username).to.equal('gateway-executor');
    expect(patterns(shared.rules, '~')).to.deep.equal(['gw:{exec.*}:*', 'gw:{exec.*.tickets}:*', 'gw:{votes.*}:*', 'gw:{tickets.*}:*']);
    for (const user of createAclUsers({ prefix: 'gw' })) {
      const written = patterns(user.rules, '~');
      expect(patterns(user.rules, '%R~').filter((p) => written.includes(p)), user.username).to.deep.equal([]);
    }
  });

  it('grants the ledger, rounds, the node registry, API keys and the due-time index to their owners only', () => {
    const writers = (key: string) => createAclUsers({ prefix: 'gw' }).filter((u) => patterns(u.rules, '~').includes(key)).map((u) => u.role);
    // The sender appends; the scheduler's retention sweep removes the exported front.
    expect(writers('gw:{ctl}:ledger')).to.deep.equal(['sender', 'scheduler']);
    expect(writers('gw:{r*}:gone:*')).to.deep.equal(['scheduler']);
    expect(writers('gw:{ctl}:retention:*')).to.deep.equal(['scheduler']);
    expect(writers('gw:{ctl}:export:*')).to.deep.equal(['webserver', 'scheduler']);
    expect(writers('gw:{ctl}:round:*')).to.deep.equal(['scheduler']);
    expect(writers('gw:{ctl}:nodes')).to.deep.equal(['webserver']);
    expect(writers('gw:{ctl}:apikey:*')).to.deep.equal(['webserver']);
    expect(writers('gw:{r*}:due')).to.deep.equal(['receiver', 'consensus', 'scheduler']);
    expect(writers('gw:{publish}:*')).to.deep.equal(['consensus', 'sender', 'scheduler']);
    expect(writers('gw:{ctl}:layout')).to.deep.equal(['webserver', 'receiver', 'consensus', 'sender', 'scheduler']);
    expect(writers('gw:{ctl}:project:*:open')).to.deep.equal(['webserver', 'receiver', 'consensus', 'sender', 'scheduler']);
    expect(createAclUser({ prefix: 'gw', role: 'webserver' }).rules).to.include('+client|list');
  });

  it('grants request state by bucket tag and the control plane by its own tag', () => {
    const consensus = createAclUser({ prefix: 'gw', role: 'consensus' });
    const writes = (key: string) => patterns(consensus.rules, '~').some((p) => globMatches(p, key));
    expect(['gw:{r0}:req:req_x', 'gw:{r11}:req:req_x:votes', 'gw:{r3}:idx:assigned', 'gw:{r3}:due', 'gw:{r3}:node-stats:node_a', 'gw:{ctl}:project:prj_x:open:v2'].filter(writes)).to.have.length(6);
    expect(['gw:{ctl}:ledger', 'gw:{ctl}:nodes', 'gw:{ctl}:apikey:x', 'gw:req:req_x', 'gw:{ctl}:project:prj_x', 'other:{r0}:req:x'].filter(writes)).to.deep.equal([]);
    expect(consensus.rules).to.include.members(['+cluster|slots', '+cluster|shards', '+cluster|info']);
  });

  it('grants each queue by its own hash tag, with the write/read split of every role', () => {
    const names = ['incoming', 'exec.node_a', 'exec.node_a.tickets', 'votes.node_a', 'tickets.node_a', 'publish'];
    expect(names.map(queueKey)).to.deep.equal([
      'gw:{incoming}:incoming:wait', 'gw:{exec.node_a}:exec.node_a:wait', 'gw:{exec.node_a.tickets}:exec.node_a.tickets:wait',
      'gw:{votes.node_a}:votes.node_a:wait', 'gw:{tickets.node_a}:tickets.node_a:wait', 'gw:{publish}:publish:wait',
    ]);
    const users = createAclUsers({ prefix: 'gw' });
    // The receiver's `{exec.*}` takes in the ticket queues too, as `exec.*` did before.
    expect(Object.fromEntries(users.map((u) => [u.role, queuesOf(u, '~', names)]))).to.deep.equal({
      webserver: ['incoming'],
      receiver: ['incoming', 'exec.node_a', 'exec.node_a.tickets'],
      executor: ['exec.node_a', 'exec.node_a.tickets', 'votes.node_a', 'tickets.node_a'],
      consensus: ['votes.node_a', 'publish'],
      sender: ['publish'],
      scheduler: ['incoming', 'exec.node_a.tickets', 'tickets.node_a', 'publish'],
    });
    for (const user of users.filter((u) => u.role !== 'executor')) {
      expect(names.filter((name) => queuesOf(user, '~', [name]).length + queuesOf(user, '%R~', [name]).length > 0), user.role).to.deep.equal(names);
    }
  });

  it("keeps a node's queue patterns off every other node's queues, even one whose id extends its own", () => {
    const user = createAclUser({ prefix: 'gw', role: 'executor', nodeId: 'node_a' });
    const own = ['exec.node_a', 'exec.node_a.tickets', 'votes.node_a', 'tickets.node_a'];
    const others = ['exec.node_ab', 'exec.node_ab.tickets', 'votes.node_ab', 'tickets.node_ab', 'exec.node_b', 'votes.node_b', 'incoming', 'publish'];
    expect(queuesOf(user, '~', [...own, ...others])).to.deep.equal(own);
    expect(queuesOf(user, '%R~', others)).to.deep.equal([]);
    // `{exec.node_a}` alone does not reach the ticket queue `{exec.node_a.tickets}`: that is a grant of its own.
    expect(globMatches(`gw:{exec.node_a}:*`, queueKey('exec.node_a.tickets'))).to.equal(false);
  });

  it('escapes glob characters of the prefix and refuses prefixes and node ids that would widen a pattern', () => {
    expect(escapeGlob('a*b?[c]\\')).to.equal('a\\*b\\?\\[c\\]\\\\');
    expect(patterns(createAclUser({ prefix: 'g*', role: 'sender' }).rules, '~')).to.include('g\\*:{ctl}:ledger');
    expect(() => createAclUser({ prefix: 'a b', role: 'sender' })).to.throw(RangeError);
    expect(() => createAclUser({ prefix: 'gw', role: 'executor', nodeId: 'node_*' })).to.throw(RangeError);
    expect(() => aclUsername('sender', NODE)).to.throw(RangeError);
  });

  it('renders ACL SETUSER arguments with the password and an ACL file line with only its hash', () => {
    const user = createAclUser({ prefix: 'gw', role: 'receiver' });
    const password = 'p'.repeat(64);
    expect(aclSetuserArgs(user, password)).to.deep.equal(['gateway-receiver', 'reset', 'on', `>${password}`, ...user.rules]);
    const line = renderAclFileLine(user, password);
    expect(line).to.equal(`user gateway-receiver on #${createHash('sha256').update(password).digest('hex')} ${user.rules.join(' ')}`);
    expect(line).to.not.include(password);
    expect(() => aclSetuserArgs(user, 'short')).to.throw(RangeError);
  });

  it('writes the ACL file with mode 0600, keeping node users added since with today\'s rules and their password hashes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-aclfile-'));
    try {
      const path = join(dir, 'users.acl');
      writeFileSync(path, `user default on nopass ~* &* +@all\nuser gateway-${NODE} on sanitize-payload #${'a'.repeat(64)} ~old:* -@all +get\nuser someone-else on #${'b'.repeat(64)} ~x:* +get\n`);
      const receiver = createAclUser({ prefix: 'gw', role: 'receiver' });
      writeAclFile(path, { defaultPassword: 'd'.repeat(64), users: [{ user: receiver, password: 'r'.repeat(64) }], prefix: 'gw', usernamePrefix: 'gateway-' });
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      const lines = readFileSync(path, 'utf8').trim().split('\n');
      expect(lines[0]).to.match(/^user default on #[0-9a-f]{64} ~\* &\* \+@all$/);
      expect(lines[1]).to.equal(renderAclFileLine(receiver, 'r'.repeat(64)));
      expect(lines[2]).to.equal(['user', `gateway-${NODE}`, 'on', `#${'a'.repeat(64)}`, ...createAclUser({ prefix: 'gw', role: 'executor', nodeId: NODE }).rules].join(' '));
      expect(lines[3]).to.equal(`user someone-else on #${'b'.repeat(64)} ~x:* +get`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
