// `gateway invoke`: sends a request to a project and, with --wait, waits for its final state and
// prints the result, the committee, the votes and the ledger entry.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { GatewayClient } from '../../lib/client/client.ts';
import type { GatewayRequest } from '../../lib/client/types.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { readTextFile } from '../files.ts';
import { createOutput, type Output } from '../output.ts';
import { addApiOptions, type ApiOptions, callApi, connect, PROJECT_OPTION, resolveProjectId } from '../profile.ts';

interface InvokeOptions extends ApiOptions {
  readonly project?: string;
  readonly input?: string;
  readonly codeVersion?: string;
  readonly wait?: boolean;
  readonly timeout: string;
  readonly idempotencyKey?: string;
}

/** The longest single long-poll the API allows. */
const MAX_WAIT_MS = 30_000;

export function registerInvokeCommand(program: Command): void {
  addApiOptions(program
    .command('invoke')
    .description('Send a request to the project. With --wait, print its status, result, committee, votes and ledger seq; exit 1 when it failed, the code threw or --timeout passed.')
    .option(...PROJECT_OPTION)
    .option('--input <json|@file>', 'the input: a JSON value, or @file to read one (default: ./input.json when there is one, as simulate reads it; else null)')
    .option('--code-version <n>', 'run an older code version (default: the current one); `--version` is the program\'s own flag')
    .option('--wait', 'wait until the request is published or failed')
    .option('--timeout <seconds>', 'how long --wait waits', '60')
    .option('--idempotency-key <key>', 'send the same request at most once for this key'))
    .action(async (options: InvokeOptions) => {
      await runInvoke(options);
    });
}

export async function runInvoke(options: InvokeOptions, env: NodeJS.ProcessEnv = process.env): Promise<GatewayRequest | undefined> {
  const out = createOutput(options);
  // Like simulate, the project folder's input.json is the default input.
  const input = parseInputOption(options.input ?? (existsSync('input.json') ? '@input.json' : undefined));
  const version = options.codeVersion === undefined ? undefined : parsePositiveInteger('--code-version', options.codeVersion);
  const timeoutMs = parsePositiveInteger('--timeout', options.timeout) * 1000;
  const { client, connection } = connect(options, env);
  const projectId = resolveProjectId(options.project, connection);
  const accepted = await callApi(`invoke ${projectId}`, () => client.createRequest(projectId, {
    input, ...(version !== undefined ? { version } : {}), ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
  }));
  if (!options.wait) {
    out.json(accepted);
    out.line(`${accepted.id} ${accepted.status}${accepted.isCreated ? '' : out.dim(' (an earlier request with this idempotency key)')}`);
    return undefined;
  }
  const request = await waitForFinal(client, accepted.id, timeoutMs);
  out.json(request);
  printRequest(out, request);
  if (request.status !== 'published' && request.status !== 'failed') throw new CliError(`${request.id} is still ${request.status} after ${timeoutMs / 1000} s`, EXIT.failed);
  if (request.status === 'failed') throw new CliError(`${request.id} failed: ${request.failure?.code ?? 'unknown'}`, EXIT.failed);
  if (request.ok === false) throw new CliError(`${request.id}: the committee agreed the code threw: ${request.error ?? '(no message)'}`, EXIT.failed);
  return request;
}

/** Long-polls until the request is final or `timeoutMs` passed; returns it as it then is. */
export async function waitForFinal(client: GatewayClient, requestId: string, timeoutMs: number): Promise<GatewayRequest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waitMs = Math.max(0, Math.min(MAX_WAIT_MS, deadline - Date.now()));
    const request = await callApi(`read ${requestId}`, () => client.getRequest(requestId, { waitMs }));
    if (request.status === 'published' || request.status === 'failed' || waitMs === 0) return request;
  }
}

function printRequest(out: Output, request: GatewayRequest): void {
  const status = request.status === 'published' ? out.ok(request.status) : request.status === 'failed' ? out.fail(request.status) : request.status;
  out.line(`request    ${request.id}`);
  out.line(`status     ${status}${request.round !== undefined ? out.dim(` (round ${request.round})`) : ''}`);
  if (request.ok === true) out.line(`result     ${JSON.stringify(request.result)}`);
  if (request.ok === false) out.line(`error      ${out.fail(request.error ?? '(no message)')}`);
  if (request.failure) out.line(`failure    ${out.fail(`${request.failure.code}: ${request.failure.message}`)}`);
  if (request.committee) out.line(`committee  ${request.committee.join(' ')} ${out.dim(`(quorum ${request.quorum}, ${request.aggregation})`)}`);
  if (request.votes) out.line(`votes      ${summarizeVotes(request)}`);
  if (request.ledger) out.line(`ledger     seq ${request.ledger.seq} ${out.dim(request.ledger.hash)}`);
}

/** "3 votes: 3 agree, 0 differ, 0 late": counted votes compared with the agreed result hash. */
export function summarizeVotes(request: GatewayRequest): string {
  const votes = request.votes ?? [];
  const counted = votes.filter((v) => !v.late);
  const agree = request.resultHash === undefined ? 0 : counted.filter((v) => v.resultHash === request.resultHash).length;
  const differ = request.resultHash === undefined ? 0 : counted.length - agree;
  return `${votes.length} of ${request.committee?.length ?? 0}: ${agree} agree, ${differ} differ, ${votes.length - counted.length} late`;
}

/** `--input`: a JSON value, or `@file` holding one; absent is null. */
export function parseInputOption(value: string | undefined): unknown {
  if (value === undefined) return null;
  let text = value;
  if (value.startsWith('@')) text = readTextFile(value.slice(1));
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`--input is not JSON (${(error as Error).message}); quote strings: --input '"text"'`, EXIT.usage);
  }
}

export function parsePositiveInteger(name: string, value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new CliError(`${name} must be a positive integer, got ${value.slice(0, 20)}`, EXIT.usage);
  return Number(value);
}
