// Environment → validated settings: one declarative table that also generates the README's config reference.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { GatewayError } from './errors.ts';
import { parseAllowList } from './sandbox/address-guard.ts';

type Parser<T> = (raw: string) => T;

interface Setting<T> {
  readonly env: string;
  readonly parse: Parser<T>;
  /** Default as the raw string a user would write; undefined = no default (the value may be absent). */
  readonly fallback?: string;
  readonly secret?: boolean;
  readonly description: string;
}

const integer = (min: number, max: number): Parser<number> => (raw) => {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`must be an integer in ${min}..${max}`);
  return value;
};
const text: Parser<string> = (raw) => raw;
const boolean: Parser<boolean> = (raw) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error('must be true or false');
};
const hexKey: Parser<string> = (raw) => {
  const value = raw.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new Error('must be 32 bytes of hex (64 characters)');
  return value.toLowerCase();
};
const token: Parser<string> = (raw) => {
  const value = raw.trim();
  if (value.length < 16) throw new Error('must be at least 16 characters');
  return value;
};
const countOrAuto = (max: number): Parser<number> => (raw) => (raw === 'auto' ? availableParallelism() : integer(0, max)(raw));
const decimal = (min: number, max: number): Parser<number> => (raw) => {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`must be a number in ${min}..${max}`);
  return value;
};
const oneOf = <T extends string>(...values: T[]): Parser<T> => (raw) => {
  if (!values.includes(raw as T)) throw new Error(`must be one of ${values.join(', ')}`);
  return raw as T;
};
const gasPrice: Parser<string> = (raw) => {
  if (!/^\d+(\.\d+)?[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$/.test(raw)) throw new Error('must be an amount and a denom, e.g. 140000000000aarch');
  return raw;
};
const list: Parser<string[]> = (raw) => raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
// Checked as the sandbox reads it, so a bad entry stops the start instead of failing every fetch.
const allowList: Parser<string[]> = (raw) => {
  const entries = list(raw);
  parseAllowList(entries);
  return entries;
};
const level: Parser<string> = (raw) => {
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw)) throw new Error('must be a pino level');
  return raw;
};
// A plain namespace: the layout puts its own hash tags after it (keys.ts), so braces would undo the spreading.
const keyPrefix: Parser<string> = (raw) => {
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(raw)) throw new Error('must be 1 to 32 letters, digits, ".", "_" or "-" (no braces: every key gets its own hash tag after the prefix)');
  return raw;
};
const url: Parser<string> = (raw) => {
  if (!/^rediss?:\/\//.test(raw)) throw new Error('must be a redis:// or rediss:// URL');
  return raw;
};

/** Every setting: the one place that names an environment variable. */
export const SETTINGS = {
  redisUrl: { env: 'REDIS_URL', parse: url, secret: true, description: 'Redis to use; unset under `npm start` → a private redis-server' },
  redisUsername: { env: 'REDIS_USERNAME', parse: text, description: "this process's Redis ACL user, its role's (`npx gateway redis-acl`); unset = the user in REDIS_URL" },
  redisPassword: { env: 'REDIS_PASSWORD', parse: text, secret: true, description: 'password of REDIS_USERNAME (use the _FILE form)' },
  redisAdminUsername: { env: 'REDIS_ADMIN_USERNAME', parse: text, fallback: 'default', description: 'webserver only: a Redis user allowed `ACL SETUSER`, used when REDIS_ADMIN_PASSWORD is set' },
  redisAdminPassword: { env: 'REDIS_ADMIN_PASSWORD', parse: text, secret: true, description: "webserver only: password of REDIS_ADMIN_USERNAME; with it, `POST /v1/nodes` creates the node's Redis user and the queue dashboard can act on every queue (use the _FILE form)" },
  keyPrefix: { env: 'GATEWAY_KEY_PREFIX', parse: keyPrefix, fallback: 'gw', description: 'namespace of every key and queue; each key then carries its own Redis Cluster hash tag (`gw:{ctl}:…`, `gw:{r3}:req:…`, `gw:{incoming}:…`)' },
  requestBuckets: { env: 'GATEWAY_REQUEST_BUCKETS', parse: integer(1, 256), fallback: '1', description: 'hash-tag buckets the request state is spread over (a request\'s keys and indexes share its bucket\'s slot); 1 for one Redis, about 4 per Redis Cluster master; fixed for the life of the data' },
  redisCluster: { env: 'REDIS_CLUSTER', parse: boolean, fallback: 'false', description: '`REDIS_URL` names one node of a Redis Cluster: connect as a cluster client' },
  port: { env: 'GATEWAY_PORT', parse: integer(0, 65535), fallback: '8080', description: 'webserver listen port' },
  host: { env: 'GATEWAY_HOST', parse: text, fallback: '0.0.0.0', description: 'webserver listen address' },
  adminToken: { env: 'GATEWAY_ADMIN_TOKEN', parse: token, secret: true, description: 'operator token for admin routes (generated by `npm start`)' },
  masterKey: { env: 'GATEWAY_MASTER_KEY', parse: hexKey, secret: true, description: '32-byte hex key sealing project secrets (generated by `npm start`)' },
  counterKey: { env: 'GATEWAY_COUNTER_KEY', parse: hexKey, secret: true, description: "scheduler's VRF key for the round chain (generated by `npm start`)" },
  counterPublicKey: { env: 'GATEWAY_COUNTER_PUBLIC_KEY', parse: hexKey, description: 'webserver: the counter public key it publishes and checks rounds with, so that it needs no GATEWAY_COUNTER_KEY (default: derived from GATEWAY_COUNTER_KEY when set)' },
  roundMs: { env: 'GATEWAY_ROUND_MS', parse: integer(50, 3_600_000), fallback: '2000', description: 'round length in ms' },
  dataDir: { env: 'GATEWAY_DATA_DIR', parse: text, fallback: './data', description: 'where `npm start` keeps Redis data and generated keys' },
  localNodes: { env: 'GATEWAY_LOCAL_NODES', parse: integer(0, 64), fallback: '3', description: 'executor nodes started by `npm start`' },
  healthPort: { env: 'HEALTH_PORT', parse: integer(0, 65535), description: '`/healthz`, `/readyz`, `/metrics` port of roles without the API (0 = any free port; unset = role default 9101–9105)' },
  nodeKeyFile: { env: 'NODE_KEY_FILE', parse: text, description: "an executor's 32-byte node seed (created if missing)" },
  nodeName: { env: 'GATEWAY_NODE_NAME', parse: text, description: 'display name an executor registers with' },
  nodeAutoRegister: { env: 'GATEWAY_NODE_AUTO_REGISTER', parse: boolean, fallback: 'true', description: '`npm start` registers its local nodes on start (an executor process never registers itself)' },
  fetchAllow: { env: 'GATEWAY_FETCH_ALLOW', parse: allowList, fallback: '', description: 'comma-separated hosts/CIDRs that `ctx.fetch` may reach despite the private-address guard' },
  logLevel: { env: 'GATEWAY_LOG_LEVEL', parse: level, fallback: 'info', description: 'pino log level' },
  bodyLimitBytes: { env: 'GATEWAY_BODY_LIMIT_BYTES', parse: integer(1024, 64 * 1024 * 1024), fallback: '1048576', description: 'largest accepted HTTP request body' },
  requestDeadlineMs: { env: 'GATEWAY_REQUEST_DEADLINE_MS', parse: integer(100, 3_600_000), fallback: '30000', description: 'time from acceptance until a request not yet agreed fails with `timeout` (a `median` request with `q` ok numeric votes finalizes then instead)' },
  medianGraceMs: { env: 'GATEWAY_MEDIAN_GRACE_MS', parse: integer(0, 3_600_000), fallback: '2000', description: 'how long a `median` request waits for the rest of its committee once `q` ok numeric votes are in (with all `k` votes it finalizes at once)' },
  dueSweepMs: { env: 'GATEWAY_DUE_SWEEP_MS', parse: integer(10, 60_000), fallback: '250', description: 'how often consensus sweeps the due-time index (request deadlines, median grace periods)' },
  assignWaitMs: { env: 'GATEWAY_ASSIGN_WAIT_MS', parse: integer(0, 3_600_000), fallback: '10000', description: 'how long a request may wait for enough ticketed nodes before it fails with `no_nodes`' },
  maxQueued: { env: 'GATEWAY_MAX_QUEUED', parse: integer(1, 100_000_000), fallback: '5000', description: 'requests waiting for a committee at most; past it, new requests get 429 `rate_limited`' },
  executorConcurrency: { env: 'GATEWAY_EXECUTOR_CONCURRENCY', parse: integer(1, 256), fallback: '8', description: 'jobs one executor node runs at once' },
  workerConcurrency: { env: 'GATEWAY_WORKER_CONCURRENCY', parse: integer(1, 1024), fallback: '32', description: 'jobs the receiver, consensus and sender each handle at once' },
  sandboxProcesses: { env: 'GATEWAY_SANDBOX_PROCESSES', parse: countOrAuto(64), fallback: 'auto', description: 'sandbox processes per executor process (`auto` = CPU cores; 0 = run isolates in the executor process)' },
  defaultTimeoutMs: { env: 'GATEWAY_DEFAULT_TIMEOUT_MS', parse: integer(10, 600_000), fallback: '5000', description: "a project's wall-clock limit per run unless it sets one" },
  maxTimeoutMs: { env: 'GATEWAY_MAX_TIMEOUT_MS', parse: integer(10, 600_000), fallback: '30000', description: 'ceiling on any project timeout' },
  defaultCpuMs: { env: 'GATEWAY_DEFAULT_CPU_MS', parse: integer(10, 600_000), fallback: '2000', description: "a project's CPU time per run, across every slice between awaits, unless it sets one" },
  maxCpuMs: { env: 'GATEWAY_MAX_CPU_MS', parse: integer(10, 600_000), fallback: '10000', description: 'ceiling on any project CPU limit' },
  defaultMemoryMb: { env: 'GATEWAY_DEFAULT_MEMORY_MB', parse: integer(8, 4096), fallback: '64', description: "a project's isolate memory unless it sets one" },
  maxMemoryMb: { env: 'GATEWAY_MAX_MEMORY_MB', parse: integer(8, 4096), fallback: '256', description: 'ceiling on any project memory limit' },
  defaultFetchCalls: { env: 'GATEWAY_DEFAULT_FETCH_CALLS', parse: integer(0, 1000), fallback: '10', description: "a project's fetch calls per run unless it sets one" },
  maxFetchCalls: { env: 'GATEWAY_MAX_FETCH_CALLS', parse: integer(0, 1000), fallback: '50', description: 'ceiling on any project fetch-call limit' },
  defaultOutputBytes: { env: 'GATEWAY_DEFAULT_OUTPUT_BYTES', parse: integer(64, 64 * 1024 * 1024), fallback: '262144', description: "a project's largest result (canonical JSON bytes) unless it sets one" },
  maxOutputBytes: { env: 'GATEWAY_MAX_OUTPUT_BYTES', parse: integer(64, 64 * 1024 * 1024), fallback: '1048576', description: 'ceiling on any project result size' },
  defaultLogLines: { env: 'GATEWAY_DEFAULT_LOG_LINES', parse: integer(0, 100_000), fallback: '100', description: "log lines kept per run unless the project sets a limit" },
  maxLogLines: { env: 'GATEWAY_MAX_LOG_LINES', parse: integer(0, 100_000), fallback: '1000', description: 'ceiling on any project log-line limit' },
  defaultLogBytes: { env: 'GATEWAY_DEFAULT_LOG_BYTES', parse: integer(0, 16 * 1024 * 1024), fallback: '16384', description: 'log bytes kept per run unless the project sets a limit' },
  maxLogBytes: { env: 'GATEWAY_MAX_LOG_BYTES', parse: integer(0, 16 * 1024 * 1024), fallback: '131072', description: 'ceiling on any project log-byte limit' },
  fetchTimeoutMs: { env: 'GATEWAY_FETCH_TIMEOUT_MS', parse: integer(10, 600_000), fallback: '10000', description: 'time limit of one `ctx.fetch` call, redirects included' },
  fetchMaxRequestBytes: { env: 'GATEWAY_FETCH_MAX_REQUEST_BYTES', parse: integer(0, 64 * 1024 * 1024), fallback: '1048576', description: 'largest request body `ctx.fetch` sends' },
  fetchMaxResponseBytes: { env: 'GATEWAY_FETCH_MAX_RESPONSE_BYTES', parse: integer(0, 256 * 1024 * 1024), fallback: '5242880', description: 'largest response body `ctx.fetch` accepts' },
  maxCodeBytes: { env: 'GATEWAY_MAX_CODE_BYTES', parse: integer(64, 16 * 1024 * 1024), fallback: '524288', description: 'largest accepted code' },
  checkProcesses: { env: 'GATEWAY_CHECK_PROCESSES', parse: integer(1, 64), fallback: '1', description: 'code-check processes of the webserver (each checks one upload at a time)' },
  checkTimeoutMs: { env: 'GATEWAY_CHECK_TIMEOUT_MS', parse: integer(100, 60_000), fallback: '2000', description: 'host deadline of one code check; past it the check process is killed and the upload refused' },
  checkMaxQueued: { env: 'GATEWAY_CHECK_MAX_QUEUED', parse: integer(0, 10_000), fallback: '16', description: 'uploads waiting for a code check at most; past it, uploads get 429 `rate_limited`' },
  projectRunShare: { env: 'GATEWAY_PROJECT_RUN_SHARE', parse: decimal(0.01, 1), fallback: '0.5', description: "share of a node's run slots (`GATEWAY_EXECUTOR_CONCURRENCY`) that one project's runs may hold at once (at least one slot)" },
  projectMaxInFlight: { env: 'GATEWAY_PROJECT_MAX_IN_FLIGHT', parse: integer(1, 100_000_000), fallback: '500', description: "requests of one project not yet final at most; past it, the project's new requests get 429 `rate_limited`" },
  maxSchedules: { env: 'GATEWAY_MAX_SCHEDULES', parse: integer(0, 100_000), fallback: '20', description: 'schedules per project at most' },
  maxCodeVersions: { env: 'GATEWAY_MAX_CODE_VERSIONS', parse: integer(1, 100_000), fallback: '50', description: 'stored code versions per project at most (delete old ones to add more)' },
  maxSecrets: { env: 'GATEWAY_MAX_SECRETS', parse: integer(0, 10_000), fallback: '50', description: 'secrets per project at most' },
  maxSecretBytes: { env: 'GATEWAY_MAX_SECRET_BYTES', parse: integer(0, 16 * 1024 * 1024), fallback: '65536', description: "UTF-8 bytes of all of a project's secret values together, at most" },
  maxInputBytes: { env: 'GATEWAY_MAX_INPUT_BYTES', parse: integer(4, 64 * 1024 * 1024), fallback: '65536', description: "largest request input (canonical JSON bytes), from the API, a schedule or the chain" },
  idempotencyTtlMs: { env: 'GATEWAY_IDEMPOTENCY_TTL_MS', parse: integer(60_000, 365 * 24 * 3_600_000), fallback: '86400000', description: 'how long an `Idempotency-Key` is remembered (chain request keys live until the contract holds the result)' },
  maxCommitteeSize: { env: 'GATEWAY_MAX_COMMITTEE_SIZE', parse: integer(1, 101), fallback: '21', description: 'largest committee a project may ask for' },
  chainRpcUrl: { env: 'GATEWAY_CHAIN_RPC_URL', parse: text, description: 'CometBFT RPC of the Archway network; unset = no chain input or output' },
  chainId: { env: 'GATEWAY_CHAIN_ID', parse: text, description: 'expected chain id (the connection is refused if the node reports another)' },
  chainContract: { env: 'GATEWAY_CHAIN_CONTRACT', parse: text, description: 'bech32 address of the gateway contract' },
  chainPrefix: { env: 'GATEWAY_CHAIN_PREFIX', parse: text, fallback: 'archway', description: 'bech32 prefix of addresses' },
  chainGasPrice: { env: 'GATEWAY_CHAIN_GAS_PRICE', parse: gasPrice, fallback: '140000000000aarch', description: 'gas price offered per unit of gas' },
  chainGasMargin: { env: 'GATEWAY_CHAIN_GAS_MARGIN', parse: decimal(1, 10), fallback: '1.4', description: 'gas limit = simulated gas × this margin' },
  chainMnemonic: { env: 'GATEWAY_CHAIN_MNEMONIC', parse: text, secret: true, description: "the publisher's signing mnemonic (use the _FILE form)" },
  chainPollMs: { env: 'GATEWAY_CHAIN_POLL_MS', parse: integer(100, 3_600_000), fallback: '5000', description: 'how often the contract is polled for pending requests, and results are published' },
  chainBatchSize: { env: 'GATEWAY_CHAIN_BATCH_SIZE', parse: integer(1, 100), fallback: '10', description: 'results per transaction at most' },
  chainMaxAttempts: { env: 'GATEWAY_CHAIN_MAX_ATTEMPTS', parse: integer(1, 100), fallback: '8', description: 'tries before a result is marked as failed on chain' },
  chainSchema: { env: 'GATEWAY_CHAIN_SCHEMA', parse: oneOf('d3lab-2023', 'snake-v2'), fallback: 'd3lab-2023', description: 'message schema of the contract (PascalCase 2023 messages, or snake_case)' },
  sweepMs: { env: 'GATEWAY_SWEEP_MS', parse: integer(100, 3_600_000), fallback: '5000', description: 'interval of the repair sweep and schedule reload' },
  retentionMs: { env: 'GATEWAY_RETENTION_MS', parse: integer(1000, 10 * 365 * 24 * 3_600_000), fallback: '604800000', description: 'how long a final request (record, votes, ledger entry), and the rounds and tickets its receipt needs, stay in Redis after it became final; the scheduler then removes them, a published one only once exported' },
  retentionLogsMs: { env: 'GATEWAY_RETENTION_LOGS_MS', parse: integer(0, 10 * 365 * 24 * 3_600_000), fallback: '3600000', description: "how long after publication a request keeps its votes' logs and late votes' values (the compaction then drops them; what receipts need stays)" },
  retentionBatch: { env: 'GATEWAY_RETENTION_BATCH', parse: integer(1, 100_000), fallback: '1000', description: 'requests (and rounds) the retention sweep compacts or removes per sweep at most, in scripts of at most 100' },
  exportDir: { env: 'GATEWAY_EXPORT_DIR', parse: text, description: 'folder the scheduler exports ledger entries and receipts to (JSON Lines) before retention removes them; unset = only `gateway export` exports' },
  exportEveryMs: { env: 'GATEWAY_EXPORT_EVERY_MS', parse: integer(100, 7 * 24 * 3_600_000), fallback: '3600000', description: 'how often the scheduler exports to GATEWAY_EXPORT_DIR (one ledger file and one receipts file per export)' },
} as const satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
type ValueOf<K extends keyof Settings> = Settings[K] extends Setting<infer T> ? T : never;
type HasFallback<K extends keyof Settings> = Settings[K] extends { fallback: string } ? K : never;

/** The validated configuration. Settings without a default may be undefined. */
export type Config = { readonly [K in keyof Settings as HasFallback<K>]: ValueOf<K> } & {
  readonly [K in keyof Settings as Exclude<K, HasFallback<K>>]?: ValueOf<K>;
};

/**
 * Reads `env` (and `NAME_FILE` for secrets) into a Config. Throws GatewayError `invalid_config`
 * naming every bad variable at once; secret values never appear in the message.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    let raw = env[setting.env];
    const file = setting.secret ? env[`${setting.env}_FILE`] : undefined;
    if ((raw === undefined || raw === '') && file) {
      try {
        raw = readFileSync(file, 'utf8').trim();
      } catch (error) {
        problems.push(`${setting.env}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
    }
    if (raw === undefined || raw === '') raw = setting.fallback;
    if (raw === undefined) continue;
    try {
      config[key] = setting.parse(raw);
    } catch (error) {
      problems.push(`${setting.env}: ${(error as Error).message}${setting.secret ? '' : ` (got "${raw}")`}`);
    }
  }
  if (problems.length > 0) throw new GatewayError('invalid_config', `invalid configuration: ${problems.join('; ')}`, { details: problems });
  return config as Config;
}

/** Throws `invalid_config` unless every named setting is present (a role's own requirements). */
export function requireSettings<K extends keyof Settings>(config: Config, keys: readonly K[]): void {
  const missing = keys.filter((key) => (config as Record<string, unknown>)[key] === undefined).map((key) => SETTINGS[key].env);
  if (missing.length > 0) throw new GatewayError('invalid_config', `missing configuration: ${missing.join(', ')}`, { details: missing });
}

/** The configuration reference as a Markdown table (generated into the README). */
export function renderConfigTable(): string {
  const rows = Object.values(SETTINGS).map((s: Setting<unknown>) => {
    const name = s.secret ? `\`${s.env}\` (\`_FILE\`)` : `\`${s.env}\``;
    const fallback = s.fallback === undefined ? '—' : s.fallback === '' ? 'empty' : `\`${s.fallback}\``;
    return `| ${name} | ${s.description} | ${fallback} |`;
  });
  return ['| variable | meaning | default |', '|---|---|---|', ...rows].join('\n');
}
