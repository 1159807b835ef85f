// `gateway secrets set|list|rm`: a project's secrets. The API replaces the whole set and never
// returns values, so `set` and `rm` refuse to drop a secret the command line does not account for.
import type { Command } from 'commander';
import type { GatewayClient } from '../../lib/client/client.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readSecretsFile } from '../verify/receipt-sources.ts';
import { createOutput } from '../output.ts';
import { addApiOptions, type ApiOptions, callApi, connect, PROJECT_OPTION, resolveProjectId } from '../profile.ts';

interface SecretsOptions extends ApiOptions {
  readonly project?: string;
  readonly envFile?: string;
  readonly replace?: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function registerSecretsCommand(program: Command): void {
  const secrets = program.command('secrets').description('Set, list and remove a project\'s secrets (values are sealed by the gateway and never shown again).');
  const common = (command: Command) => addApiOptions(command.option(...PROJECT_OPTION));
  common(secrets
    .command('set')
    .description('Set secrets. The API replaces the whole set and cannot return values: secrets already set must be given again (or dropped with --replace).')
    .argument('[pairs...]', 'NAME=value pairs')
    .option('--env-file <file>', 'read NAME=value lines from a .env file too (the command line wins)')
    .option('--replace', 'drop the secrets not given'))
    .action(async (pairs: string[], options: SecretsOptions) => {
      await setSecrets(pairs, options);
    });
  common(secrets.command('list').description('List the names of the project\'s secrets.'))
    .action(async (options: SecretsOptions) => {
      await listSecrets(options);
    });
  common(secrets
    .command('rm')
    .description('Remove secrets. The secrets kept must be given again with --env-file, since the API replaces the whole set and cannot return values.')
    .argument('<names...>', 'the names to remove')
    .option('--env-file <file>', 'NAME=value lines of the secrets to keep'))
    .action(async (names: string[], options: SecretsOptions) => {
      await removeSecrets(names, options);
    });
}

export async function setSecrets(pairs: readonly string[], options: SecretsOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const given = { ...(options.envFile ? readEnvFile(options.envFile) : {}), ...parsePairs(pairs) };
  if (Object.keys(given).length === 0) throw new CliError('give NAME=value pairs or --env-file', EXIT.usage);
  const { client, projectId } = open(options, env);
  const existing = await names(client, projectId);
  const dropped = existing.filter((name) => !(name in given));
  if (dropped.length > 0 && !options.replace) {
    throw new CliError(`setting these would drop ${dropped.join(', ')}: the API replaces the whole set and cannot return values; give them again (or in --env-file), or pass --replace`, EXIT.failed);
  }
  await callApi(`set the secrets of ${projectId}`, () => client.putSecrets(projectId, given));
  const report = { projectId, set: Object.keys(given).sort(), dropped };
  out.json(report);
  out.line(`${out.ok('set')} ${report.set.join(', ')}${dropped.length > 0 ? ` ${out.dim(`(dropped ${dropped.join(', ')})`)}` : ''}`);
}

export async function listSecrets(options: SecretsOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const { client, projectId } = open(options, env);
  const list = await names(client, projectId);
  out.json({ projectId, names: list });
  if (list.length === 0) out.line(out.dim('no secrets'));
  for (const name of list) out.line(name);
}

export async function removeSecrets(remove: readonly string[], options: SecretsOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  const kept = options.envFile ? readEnvFile(options.envFile) : {};
  const { client, projectId } = open(options, env);
  const existing = await names(client, projectId);
  const unknown = remove.filter((name) => !existing.includes(name));
  if (unknown.length > 0) throw new CliError(`${projectId} has no secret ${unknown.join(', ')}`, EXIT.failed);
  const keep = existing.filter((name) => !remove.includes(name));
  const missing = keep.filter((name) => !(name in kept));
  if (missing.length > 0) {
    throw new CliError(`removing ${remove.join(', ')} would also drop ${missing.join(', ')}: the API replaces the whole set and cannot return values; give the kept ones with --env-file`, EXIT.failed);
  }
  await callApi(`set the secrets of ${projectId}`, () => client.putSecrets(projectId, Object.fromEntries(keep.map((name) => [name, kept[name]!]))));
  out.json({ projectId, removed: [...remove], kept: keep });
  out.line(`${out.ok('removed')} ${remove.join(', ')}${keep.length > 0 ? ` ${out.dim(`(kept ${keep.join(', ')})`)}` : ''}`);
}

function open(options: SecretsOptions, env: NodeJS.ProcessEnv): { client: GatewayClient; projectId: string } {
  const { client, connection } = connect(options, env);
  return { client, projectId: resolveProjectId(options.project, connection) };
}

async function names(client: GatewayClient, projectId: string): Promise<string[]> {
  return [...(await callApi(`list the secrets of ${projectId}`, () => client.listSecrets(projectId)))].sort();
}

function parsePairs(pairs: readonly string[]): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const name = at < 0 ? pair : pair.slice(0, at);
    // The value is never echoed: it may be the secret itself, mistyped.
    if (at < 0 || !NAME.test(name)) throw new CliError(`expected NAME=value with NAME matching [A-Za-z_][A-Za-z0-9_]{0,63}, got ${at < 0 ? 'an argument without =' : `name ${name.slice(0, 64)}`}`, EXIT.usage);
    secrets[name] = pair.slice(at + 1);
  }
  return secrets;
}

/**
 * The secrets of a `.env` file (or a JSON object of strings), read as `gateway simulate --secrets`
 * and `gateway verify --secrets` read them; every name must be one the API takes.
 */
export function readEnvFile(path: string): Record<string, string> {
  const secrets = readSecretsFile(path);
  const badName = Object.keys(secrets).find((name) => !NAME.test(name));
  if (badName !== undefined) throw new CliError(`${path}: ${badName} is not a secret name (letters, digits and _, at most 64, not starting with a digit)`, EXIT.usage);
  return secrets;
}
