// `gateway redis-acl`: the Redis ACL user of every role (lib/redis-acl.ts), printed for an operator
// to apply, applied with `--apply` to a Redis the operator runs (ACL SETUSER, then ACL SAVE where
// Redis keeps an ACL file), or written as an ACL file with `--acl-file` (the Helm chart's Redis).
// New passwords are printed once or written to files; given ones are read from `--password-dir`.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeAclFile } from '../../lib/acl-file.ts';
import { ACL_ROLES, createAclUser, DEFAULT_USERNAME_PREFIX, type AclRole, type AclUser } from '../../lib/redis-acl.ts';
import { closeRedis, createRedis } from '../../lib/redis.ts';
import { createRedisUserAdmin, generateRedisPassword } from '../../lib/redis-users.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput, type Output } from '../output.ts';

interface RedisAclOptions {
  readonly prefix: string;
  readonly cluster?: boolean;
  readonly role?: string[];
  readonly node?: string[];
  readonly usernamePrefix?: string;
  readonly apply?: boolean;
  readonly url?: string;
  readonly user: string;
  readonly passwordFile?: string;
  readonly out?: string;
  readonly passwordDir?: string;
  readonly aclFile?: string;
  readonly json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRedisAclCommand(program: Command): void {
  program
    .command('redis-acl')
    .description('Print the Redis ACL user of every role (each executor node\'s with --node), or create them with --apply.')
    .option('--prefix <prefix>', 'the key prefix (GATEWAY_KEY_PREFIX) the users are limited to', 'gw')
    .option('--role <role>', `only this role's user (repeatable): ${ACL_ROLES.join(', ')}`, collect)
    .option('--node <id>', 'an executor node\'s own user, limited to that node\'s queues (repeatable); without it, one executor user for every node', collect)
    .option('--username-prefix <text>', 'start of every username', 'gateway-')
    .option('--apply', 'create (or redefine) the users on Redis with new random passwords')
    .option('--url <url>', 'with --apply: the Redis to change (default: REDIS_URL)')
    .option('--cluster', 'with --apply: the URL names one node of a Redis Cluster; the users go on every node (default: REDIS_CLUSTER)')
    .option('--user <name>', 'with --apply: a user allowed ACL SETUSER', 'default')
    .option('--password-file <path>', 'with --apply: that user\'s password (e.g. data/keys/redis-password); else the URL\'s')
    .option('--out <dir>', 'with --apply: write each new password to <dir>/<username> (mode 0600) instead of printing it')
    .option('--password-dir <dir>', 'use the passwords in <dir>/<username> instead of new ones (with --acl-file, the default user\'s in <dir>/default)')
    .option('--acl-file <path>', 'write the users into this ACL file (mode 0600; users it does not name are kept), for a redis-server started with --aclfile')
    .option('--json', 'one JSON document')
    .action((options: RedisAclOptions) => runRedisAcl(options));
}

async function runRedisAcl(options: RedisAclOptions): Promise<void> {
  const out = createOutput(options);
  const users = selectUsers(options);
  if (options.aclFile) return writeAclFileOf(out, options, users);
  if (!options.apply) return printRules(out, users);
  const url = options.url ?? process.env.REDIS_URL;
  if (!url) throw new CliError('--apply needs --url (or REDIS_URL): the Redis to create the users on', EXIT.usage);
  const credentials = options.passwordFile ? { username: options.user, password: readSecret(options.passwordFile) } : undefined;
  const { passwordDir } = options;
  const passwords = new Map(users.map((user) => [user.username, passwordDir ? readSecret(join(passwordDir, user.username)) : generateRedisPassword()]));
  // The files first: a password the users get must never be lost on the way.
  const files = options.out && !passwordDir ? writePasswordFiles(options.out, passwords) : undefined;
  const cluster = options.cluster ?? /^(1|true|yes|on)$/i.test(process.env.REDIS_CLUSTER ?? '');
  const redis = createRedis(url, 'gateway-redis-acl', credentials, { cluster });
  redis.on('error', () => undefined);
  let isSaved = false;
  try {
    await redis.ping().catch((error: Error) => { throw new CliError(`cannot reach Redis: ${error.message}`, EXIT.environment); });
    const admin = createRedisUserAdmin(redis);
    for (const user of users) ({ isSaved } = await admin.putUser(user, passwords.get(user.username)!));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`Redis refused the change: ${(error as Error).message}`, EXIT.failed);
  } finally {
    await closeRedis(redis);
  }
  out.json(users.map((user) => ({
    role: user.role, ...(user.nodeId ? { nodeId: user.nodeId } : {}), username: user.username,
    ...(passwordDir ? {} : files ? { passwordFile: files.get(user.username) } : { password: passwords.get(user.username) }),
  })));
  for (const user of users) {
    out.line(`${out.ok('created')} ${user.username.padEnd(32)} ${passwordDir ? join(passwordDir, user.username) : files ? files.get(user.username) : passwords.get(user.username)}`);
  }
  if (!files && !passwordDir) out.line(out.dim('Each password is shown this once: give it to that role as REDIS_PASSWORD_FILE, with REDIS_USERNAME.'));
  if (!isSaved) out.line(out.dim('This Redis keeps no ACL file: the users live until it restarts (persist them with your Redis configuration).'));
}

/** The users asked for: every role (or the `--role`s), executors as one user per `--node` or one for all. */
function selectUsers(options: RedisAclOptions): AclUser[] {
  const roles = (options.role ?? [...ACL_ROLES]).map((role) => {
    if (!(ACL_ROLES as readonly string[]).includes(role)) throw new CliError(`--role ${role}: not a role (${ACL_ROLES.join(', ')})`, EXIT.usage);
    return role as AclRole;
  });
  try {
    return roles.flatMap((role) => {
      const base = { prefix: options.prefix, role, usernamePrefix: options.usernamePrefix };
      if (role !== 'executor' || !options.node?.length) return [createAclUser(base)];
      return options.node.map((nodeId) => createAclUser({ ...base, nodeId }));
    });
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
}

/** Writes the users (and the default user) into an ACL file with the passwords of `--password-dir`. */
function writeAclFileOf(out: Output, options: RedisAclOptions, users: readonly AclUser[]): void {
  const dir = options.passwordDir;
  if (!dir) throw new CliError('--acl-file needs --password-dir: <dir>/default and <dir>/<username> hold the passwords', EXIT.usage);
  try {
    writeAclFile(resolve(options.aclFile!), {
      defaultPassword: readSecret(join(dir, 'default')),
      users: users.map((user) => ({ user, password: readSecret(join(dir, user.username)) })),
      prefix: options.prefix,
      usernamePrefix: options.usernamePrefix ?? DEFAULT_USERNAME_PREFIX,
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot write ${options.aclFile}: ${(error as Error).message}`, error instanceof RangeError ? EXIT.usage : EXIT.environment);
  }
  out.json({ aclFile: resolve(options.aclFile!), users: users.map((user) => user.username) });
  out.line(`${out.ok('wrote')} ${resolve(options.aclFile!)}: default, ${users.map((user) => user.username).join(', ')}`);
}

function printRules(out: Output, users: readonly AclUser[]): void {
  out.json(users.map((user) => ({ role: user.role, ...(user.nodeId ? { nodeId: user.nodeId } : {}), username: user.username, rules: user.rules })));
  out.line(out.dim('# In redis-cli as an admin; replace PASSWORD with a random one per user (or run with --apply).'));
  for (const user of users) {
    out.line(`# ${user.role}${user.nodeId ? ` ${user.nodeId}` : ''}`);
    out.line(['ACL SETUSER', user.username, 'reset on >PASSWORD', ...user.rules].join(' '));
  }
}

function readSecret(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new CliError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, EXIT.environment);
  }
}

function writePasswordFiles(dir: string, passwords: ReadonlyMap<string, string>): Map<string, string> {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const files = new Map<string, string>();
  for (const [username, password] of passwords) {
    const path = join(root, username);
    writeFileSync(path, `${password}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    files.set(username, path);
  }
  return files;
}
