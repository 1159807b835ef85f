// `gateway export --since SEQ --out DIR`: writes the ledger entries from SEQ up to the latest
// anchored one and the receipts of their requests as JSON Lines (`ledger-<from>-<to>.jsonl`,
// `receipts-<from>-<to>.jsonl`, which `gateway verify` checks), then records the export with the
// gateway (`POST /v1/exports`): retention removes no published request before it was exported.
// Exit 0 when exported (or nothing to export), 1 when the gateway refused, 2 for a usage error,
// 3 when the gateway or the folder cannot be reached.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { writeExport, type ExportSource } from '../../lib/export-files.ts';
import type { HashedLedgerEntry } from '../../lib/protocol/ledger.ts';
import type { ExportRecord } from '../../lib/repository/exports.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput } from '../output.ts';

interface ExportOptions {
  readonly since?: number;
  readonly to?: number;
  readonly out: string;
  readonly url?: string;
  readonly token?: string;
  readonly maxEntries: number;
  /** Commander's `--no-mark`. */
  readonly mark: boolean;
  readonly json?: boolean;
}

const HTTP_TIMEOUT_MS = 30_000;
/** Receipts fetched at once. */
const RECEIPT_CONCURRENCY = 8;
/** `GET /v1/ledger`'s largest page. */
const LEDGER_PAGE = 500;
const DEFAULT_MAX_ENTRIES = 10_000;

const positiveInteger = (raw: string): number => {
  if (!/^[0-9]{1,15}$/.test(raw) || Number(raw) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(raw);
};

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('Export ledger entries and the receipts of their requests as JSON Lines (checked by gateway verify), and record the export so retention may remove what it holds.')
    .requiredOption('--out <dir>', 'the folder to write ledger-<from>-<to>.jsonl and receipts-<from>-<to>.jsonl into (created if missing)')
    .option('--since <seq>', 'the first ledger seq to export (default: right after the last export recorded)', positiveInteger)
    .option('--to <seq>', 'the last ledger seq to export (default: the last one the latest round anchors)', positiveInteger)
    .option('--max-entries <n>', 'ledger entries per pair of files at most', positiveInteger, DEFAULT_MAX_ENTRIES)
    .option('--no-mark', 'do not record the export with the gateway (retention then does not count on these files)')
    .option('--url <url>', 'the gateway; default GATEWAY_URL')
    .option('--token <token>', 'the admin token; default GATEWAY_TOKEN')
    .option('--json', 'print one JSON document')
    .action((options: ExportOptions) => runExport(options, process.env));
}

async function runExport(options: ExportOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const out = createOutput(options);
  const url = options.url ?? (env.GATEWAY_URL || undefined);
  const token = options.token ?? (env.GATEWAY_TOKEN || undefined);
  if (!url || !/^https?:\/\/[^/]/.test(url)) throw new CliError('--url (or GATEWAY_URL) must name the gateway as an http(s) URL', EXIT.usage);
  if (!token) throw new CliError('exports need the admin token: --token or GATEWAY_TOKEN', EXIT.usage);
  const dir = resolve(options.out);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new CliError(`${dir} cannot be created (${(error as NodeJS.ErrnoException).code ?? 'error'})`, EXIT.environment);
  }
  const api = createApi(url, token);
  const state = (await api.json('GET', '/v1/exports?limit=1', 'the export list')) as { exportedThrough: number; removedThrough: number };
  const latest = (await api.json('GET', '/v1/rounds/latest', 'the latest round')) as { round: number; ledgerLength: number };
  const since = options.since ?? state.exportedThrough + 1;
  const to = Math.min(options.to ?? Number.POSITIVE_INFINITY, latest.ledgerLength);
  if (since <= state.removedThrough) {
    throw new CliError(`entries up to seq ${state.removedThrough} were removed by retention: earlier exports hold them (GET /v1/exports); export from ${state.removedThrough + 1}`, EXIT.failed);
  }
  const written: { record: ExportRecord; missingReceipts: number; isMarked: boolean }[] = [];
  for (let from = since; from <= to; from += options.maxEntries) {
    const last = Math.min(to, from + options.maxEntries - 1);
    let result: Awaited<ReturnType<typeof writeExport>>;
    try {
      result = await writeExport(dir, from, last, createHttpSource(api), Date.now);
    } catch (error) {
      if (error instanceof CliError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new CliError(code ? `${dir} cannot be written (${code})` : (error as Error).message, code ? EXIT.environment : EXIT.failed);
    }
    const isMarked = options.mark && (await mark(api, result.record));
    written.push({ ...result, isMarked });
    out.line(`${out.ok('exported')} seq ${from}..${last}: ${result.record.ledgerFile}, ${result.record.receiptsFile} (${result.record.receipts} receipts${result.missingReceipts > 0 ? `; ${result.missingReceipts} requests already removed, in earlier exports` : ''})${isMarked ? '' : out.dim(' — not recorded with the gateway')}`);
  }
  if (written.length === 0) out.line(`nothing to export: since ${since}, and the latest round anchors the ledger up to seq ${latest.ledgerLength}`);
  out.json({ dir, since, to: Math.max(to, since - 1), exports: written.map(({ record, missingReceipts, isMarked }) => ({ ...record, missingReceipts, isMarked })) });
  if (options.mark && written.some((w) => !w.isMarked)) process.exitCode = EXIT.failed;
}

/** Records an export with the gateway; false (after a warning) when it does not continue the exported range. */
async function mark(api: Api, record: ExportRecord): Promise<boolean> {
  const { exportedAt: _at, ...body } = record;
  const response = await api.request('POST', '/v1/exports', body);
  if (response.status === 201) return true;
  const reply = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (response.status === 409) {
    process.stderr.write(`gateway: warning: the export of seq ${record.fromSeq}..${record.toSeq} was written but not recorded: ${reply?.error?.message ?? 'conflict'}\n`);
    return false;
  }
  throw new CliError(`recording the export: ${reply?.error ? `${reply.error.code}: ${reply.error.message}` : `HTTP ${response.status}`}`, EXIT.failed);
}

/** Entries from `GET /v1/ledger`, receipts from `GET /v1/requests/:id/receipt` (410 gone: removed, an earlier export holds it). */
function createHttpSource(api: Api): ExportSource {
  return {
    async listEntries(after, limit) {
      const page = (await api.json('GET', `/v1/ledger?after=${after}&limit=${Math.min(limit, LEDGER_PAGE)}`, 'the ledger')) as { items: HashedLedgerEntry[] };
      return page.items;
    },
    async getReceipts(requestIds) {
      const receipts: unknown[] = [];
      for (let i = 0; i < requestIds.length; i += RECEIPT_CONCURRENCY) {
        receipts.push(...await Promise.all(requestIds.slice(i, i + RECEIPT_CONCURRENCY).map(async (id) => {
          const response = await api.request('GET', `/v1/requests/${encodeURIComponent(id)}/receipt`);
          if (response.status === 410) return null;
          if (response.ok) return response.json();
          const reply = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
          throw new CliError(`the receipt of ${id}: ${reply?.error ? `${reply.error.code}: ${reply.error.message}` : `HTTP ${response.status}`}`, EXIT.failed);
        })));
      }
      return receipts;
    },
  };
}

type Api = ReturnType<typeof createApi>;

function createApi(baseUrl: string, token: string) {
  async function request(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(new URL(path, baseUrl), {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
    } catch (error) {
      const { cause } = error as { cause?: { code?: string; message?: string } };
      throw new CliError(`${baseUrl} is unreachable (${cause?.code ?? cause?.message ?? (error as Error).message})`, EXIT.environment);
    }
  }
  return {
    request,
    async json(method: string, path: string, what: string): Promise<unknown> {
      const response = await request(method, path);
      if (response.ok) return response.json();
      const reply = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      throw new CliError(`${what}: ${reply?.error ? `${reply.error.code}: ${reply.error.message}` : `HTTP ${response.status}`}`, EXIT.failed);
    },
  };
}
