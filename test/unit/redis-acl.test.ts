// The ACL rules generator (lib/redis-acl.ts) and the ACL file of `npm start` (lib/acl-file.ts).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { writeAclFile } from '../../lib/acl-file.ts';
import { aclSetuserArgs, aclUsername, createAclUser, createAclUsers, escapeGlob, renderAclFileLine, ROLE_COMMANDS } from '../../lib/redis-acl.ts';

const NODE = 'node_0123456789abcdef0123';
const patterns = (rules: readonly string[], kind: '~' | '%R~') => rules.filter((r) => r.startsWith(kind)).map((r) => r.slice(kind.length));

describe('Redis ACL rules', () => {
  it('limits an executor node to writing its own four queues and reading what a run needs', () => {
    const user = createAclUser({ prefix: '{gw}', role: 'executor', nodeId: NODE });
    expect(user.username).to.equal(`gateway-${NODE}`);
    expect(patterns(user.rules, '~')).to.deep.equal([`{gw}:exec.${NODE}:*`, `{gw}:exec.${NODE}.tickets:*`, `{gw}:votes.${NODE}:*`, `{gw}:tickets.${NODE}:*`]);
    expect(patterns(user.rules, '%R~')).to.deep.equal(['{gw}:req:*', '{gw}:project:*', '{gw}:code:*', '{gw}:round:*', '{gw}:nodes', '{gw}:nodes:*']);
    // No pub/sub channel, and the commands in their order.
    expect(user.rules.slice(user.rules.indexOf('resetchannels'))).to.deep.equal(['resetchannels', ...ROLE_COMMANDS]);
  });

  it('gives the shared executor user every node\'s queues, and no role writes what it only reads', () => {
    const shared = createAclUser({ prefix: '{gw}', role: 'executor' });
    expect(shared.username).to.equal('gateway-executor');
    expect(patterns(shared.rules, '~')).to.deep.equal(['{gw}:exec.*:*', '{gw}:exec.*.tickets:*', '{gw}:votes.*:*', '{gw}:tickets.*:*']);
    for (const user of createAclUsers({ prefix: '{gw}' })) {
      const written = patterns(user.rules, '~');
      expect(patterns(user.rules, '%R~').filter((p) => written.includes(p)), user.username).to.deep.equal([]);
    }
  });

  it('grants the ledger, rounds, the node registry, API keys and the due-time index to their owners only', () => {
    const writers = (key: string) => createAclUsers({ prefix: '{gw}' }).filter((u) => patterns(u.rules, '~').includes(key)).map((u) => u.role);
    // The sender appends; the scheduler's retention sweep removes the exported front.
    expect(writers('{gw}:ledger')).to.deep.equal(['sender', 'scheduler']);
    expect(writers('{gw}:gone:*')).to.deep.equal(['scheduler']);
    expect(writers('{gw}:retention:*')).to.deep.equal(['scheduler']);
    expect(writers('{gw}:export:*')).to.deep.equal(['webserver', 'scheduler']);
    expect(writers('{gw}:round:*')).to.deep.equal(['scheduler']);
    expect(writers('{gw}:nodes')).to.deep.equal(['webserver']);
    expect(writers('{gw}:apikey:*')).to.deep.equal(['webserver']);
    expect(writers('{gw}:due')).to.deep.equal(['receiver', 'consensus', 'scheduler']);
    expect(writers('{gw}:publish:*')).to.deep.equal(['consensus', 'sender', 'scheduler']);
    expect(createAclUser({ prefix: '{gw}', role: 'webserver' }).rules).to.include('+client|list');
  });

  it('escapes glob characters of the prefix and refuses prefixes and node ids that would widen a pattern', () => {
    expect(escapeGlob('a*b?[c]\\')).to.equal('a\\*b\\?\\[c\\]\\\\');
    expect(patterns(createAclUser({ prefix: 'g*', role: 'sender' }).rules, '~')).to.include('g\\*:ledger');
    expect(() => createAclUser({ prefix: 'a b', role: 'sender' })).to.throw(RangeError);
    expect(() => createAclUser({ prefix: '{gw}', role: 'executor', nodeId: 'node_*' })).to.throw(RangeError);
    expect(() => aclUsername('sender', NODE)).to.throw(RangeError);
  });

  it('renders ACL SETUSER arguments with the password and an ACL file line with only its hash', () => {
    const user = createAclUser({ prefix: '{gw}', role: 'receiver' });
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
      const receiver = createAclUser({ prefix: '{gw}', role: 'receiver' });
      writeAclFile(path, { defaultPassword: 'd'.repeat(64), users: [{ user: receiver, password: 'r'.repeat(64) }], prefix: '{gw}', usernamePrefix: 'gateway-' });
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      const lines = readFileSync(path, 'utf8').trim().split('\n');
      expect(lines[0]).to.match(/^user default on #[0-9a-f]{64} ~\* &\* \+@all$/);
      expect(lines[1]).to.equal(renderAclFileLine(receiver, 'r'.repeat(64)));
      expect(lines[2]).to.equal(['user', `gateway-${NODE}`, 'on', `#${'a'.repeat(64)}`, ...createAclUser({ prefix: '{gw}', role: 'executor', nodeId: NODE }).rules].join(' '));
      expect(lines[3]).to.equal(`user someone-else on #${'b'.repeat(64)} ~x:* +get`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
