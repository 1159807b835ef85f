// Where the API commands find their gateway: --url/--token flags, then GATEWAY_URL/GATEWAY_TOKEN,
// then a named profile of the config file; and how the client's errors become CLI exit codes.
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createGatewayClient, type GatewayClient } from '../lib/client/client.ts';
import { GatewayApiError } from '../lib/client/errors.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { readTextFileIfExists } from './files.ts';

/** The options every command that calls the API takes. */
export interface ApiOptions {
  readonly url?: string;
  readonly token?: string;
  readonly profile?: string;
  readonly json?: boolean;
}

/** A profile in the config file; `project` is the default `--project` of the commands that take one. */
export interface Profile {
  readonly url?: string;
  readonly token?: string;
  readonly project?: string;
}

/** `~/.config/gateway/config.json`: `{"defaultProfile": "local", "profiles": {"local": {"url", "token", "project"}}}`. */
export interface ConfigFile {
  readonly defaultProfile?: string;
  readonly profiles?: Readonly<Record<string, Profile>>;
}

/** The gateway a command talks to, and where each part came from (never the token itself). */
export interface Connection {
  readonly url: string;
  readonly token?: string;
  readonly project?: string;
  /** The profile used, if any. */
  readonly profile?: string;
  readonly tokenSource: 'flag' | 'env' | 'profile' | 'none';
}

/** The `--project` option of the commands that act on one project, and where its default comes from (resolveProjectId). */
export const PROJECT_OPTION = ['--project <id>', 'the project (default: projectId of ./gateway.json, else the profile\'s project)'] as const;

/** Adds --url, --token, --profile and --json to an API command. */
export function addApiOptions(command: Command): Command {
  return command
    .option('--url <url>', 'the gateway (default: GATEWAY_URL, else the profile\'s url)')
    .option('--token <token>', 'a project key or the admin token (default: GATEWAY_TOKEN, else the profile\'s token)')
    .option('--profile <name>', 'a profile of the config file ($GATEWAY_CONFIG or ~/.config/gateway/config.json; default: GATEWAY_PROFILE, else its defaultProfile)')
    .option('--json', 'print one JSON document, for scripts');
}

export function configFilePath(env: NodeJS.ProcessEnv): string {
  return env.GATEWAY_CONFIG || join(env.HOME || homedir(), '.config', 'gateway', 'config.json');
}

/**
 * Resolves the connection: flags first; an explicit --profile next; then GATEWAY_URL/GATEWAY_TOKEN;
 * then the default profile (GATEWAY_PROFILE or the file's defaultProfile). A missing config file is
 * no error unless a profile was named.
 */
export function resolveConnection(options: ApiOptions, env: NodeJS.ProcessEnv): Connection {
  const path = configFilePath(env);
  const file = readConfigFile(path);
  const named = options.profile ?? (env.GATEWAY_PROFILE || undefined);
  const profileName = named ?? file?.defaultProfile;
  const profile = profileName === undefined ? undefined : file?.profiles?.[profileName];
  if (named !== undefined && profile === undefined) {
    throw new CliError(`profile ${named} is not in ${path}${file ? ` (it has: ${Object.keys(file.profiles ?? {}).join(', ') || 'none'})` : ' (no such file)'}`, EXIT.usage);
  }
  // An explicitly chosen profile beats the environment; a default one does not.
  const isProfileFirst = options.profile !== undefined;
  const envUrl = env.GATEWAY_URL || undefined;
  const envToken = env.GATEWAY_TOKEN || undefined;
  const url = options.url ?? (isProfileFirst ? profile?.url ?? envUrl : envUrl ?? profile?.url);
  if (url === undefined) throw new CliError(`no gateway URL: pass --url, set GATEWAY_URL, or add a profile to ${path}`, EXIT.usage);
  if (!/^https?:\/\/[^/]/.test(url)) throw new CliError(`the gateway URL must be http(s), got ${url.slice(0, 100)}`, EXIT.usage);
  const candidates: Array<[Connection['tokenSource'], string | undefined]> = isProfileFirst
    ? [['flag', options.token], ['profile', profile?.token], ['env', envToken]]
    : [['flag', options.token], ['env', envToken], ['profile', profile?.token]];
  const [tokenSource, token] = candidates.find(([, value]) => value !== undefined) ?? ['none', undefined];
  return { url, token, tokenSource, ...(profile?.project ? { project: profile.project } : {}), ...(profile ? { profile: profileName } : {}) };
}

/** A client for the resolved connection; `isTokenNeeded` refuses to start without one (exit 2). */
export function connect(options: ApiOptions, env: NodeJS.ProcessEnv = process.env): { client: GatewayClient; connection: Connection } {
  const connection = resolveConnection(options, env);
  if (connection.token === undefined) throw new CliError('no token: pass --token, set GATEWAY_TOKEN, or add one to a profile', EXIT.usage);
  return { client: createGatewayClient({ url: connection.url, token: connection.token }), connection };
}

/** The project a command works on: --project, else gateway.json's projectId in `dir`, else the profile's. */
export function resolveProjectId(flag: string | undefined, connection: Connection, dir = process.cwd()): string {
  const id = flag ?? readProjectIdOf(dir) ?? connection.project;
  if (id === undefined) throw new CliError('no project: pass --project, run in a directory whose gateway.json has a projectId (gateway deploy writes it), or set project in the profile', EXIT.usage);
  return id;
}

/**
 * Runs an API call, turning the client's errors into one-line CLI errors: a refusal exits 1 with
 * the API's code and message, an unreachable gateway exits 3.
 */
export async function callApi<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof GatewayApiError)) throw error;
    if (error.code === 'unreachable') throw new CliError(`${what}: ${error.message}`, EXIT.environment);
    const hint = error.code === 'unauthorized' ? ' (check --token, GATEWAY_TOKEN or the profile)' : '';
    const retry = error.retryAfterSeconds === undefined ? '' : ` (retry after ${error.retryAfterSeconds} s)`;
    const details = error.details.length > 0 && !error.message.includes(error.details[0]!) ? `: ${error.details.join('; ')}` : '';
    throw new CliError(`${what}: ${error.code}: ${error.message}${details}${hint}${retry}`, EXIT.failed);
  }
}

function readConfigFile(path: string): ConfigFile | undefined {
  const text = readTextFileIfExists(path);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not JSON`, EXIT.environment);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError(`${path}: expected an object with "profiles"`, EXIT.environment);
  const file = parsed as ConfigFile;
  const hasToken = Object.values(file.profiles ?? {}).some((p) => typeof p?.token === 'string');
  // Tokens in a file others can read are as good as published.
  if (hasToken && (statSync(path).mode & 0o077) !== 0) process.stderr.write(`gateway: warning: ${path} holds tokens and is readable by other users; chmod 600 it\n`);
  return file;
}

function readProjectIdOf(dir: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'gateway.json'), 'utf8')) as { projectId?: unknown };
    return typeof manifest.projectId === 'string' ? manifest.projectId : undefined;
  } catch {
    return undefined;
  }
}
