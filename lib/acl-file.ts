// The ACL file of `npm start`'s private Redis: the default user (the operator's password), each role's
// user and each local node's, plus the node users onboarded since (POST /v1/nodes saves them there),
// whose rules are renewed and whose passwords (kept only as hashes) stay.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createAclUser, renderAclFileLine, renderDefaultUserLine, type AclUser } from './redis-acl.ts';

export interface AclFileUser {
  readonly user: AclUser;
  readonly password: string;
}

/**
 * Writes the ACL file at `path` (mode 0600, replaced in one rename). Lines of users it does not
 * manage are kept; those of executor node users (`<usernamePrefix>node_…`) get the current rules.
 */
export function writeAclFile(path: string, options: { defaultPassword: string; users: readonly AclFileUser[]; prefix: string; usernamePrefix: string }): void {
  const managed = new Set(['default', ...options.users.map((u) => u.user.username)]);
  const kept = readLines(path)
    .filter((line) => !managed.has(line.split(' ')[1] ?? ''))
    .map((line) => renewNodeUser(line, options.prefix, options.usernamePrefix));
  const lines = [
    renderDefaultUserLine(options.defaultPassword),
    ...options.users.map(({ user, password }) => renderAclFileLine(user, password)),
    ...kept,
  ];
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, path);
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line.startsWith('user '));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** A node user's line with today's rules for its node; its on/off state and password hashes stay. */
function renewNodeUser(line: string, prefix: string, usernamePrefix: string): string {
  const [, username, ...rules] = line.split(' ');
  if (!username.startsWith(`${usernamePrefix}node_`)) return line;
  const nodeId = username.slice(usernamePrefix.length);
  if (!/^[A-Za-z0-9_-]+$/.test(nodeId)) return line;
  const state = rules.filter((rule) => rule === 'on' || rule === 'off' || rule.startsWith('#'));
  return ['user', username, ...state, ...createAclUser({ prefix, role: 'executor', nodeId, usernamePrefix }).rules].join(' ');
}
