// `gateway logs`: each committee node's captured logs of a request (from its votes); --follow
// polls a project's requests and prints the logs of each new one as it becomes final.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { GatewayClient } from '../../lib/client/client.ts';
import type { GatewayRequest } from '../../lib/client/types.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput, type Output } from '../output.ts';
import { addApiOptions, type ApiOptions, callApi, connect, PROJECT_OPTION, resolveProjectId } from '../profile.ts';
import { parsePositiveInteger, waitForFinal } from './invoke.ts';

interface LogsOptions extends ApiOptions {
  readonly follow?: boolean;
  readonly project?: string;
  readonly wait?: boolean;
  readonly interval: string;
}

/** One node's part of a request's logs, as `--json` prints it. */
export interface NodeLogs {
  readonly nodeId: string;
  readonly ok: boolean;
  /** Carried the agreed result (false while none is agreed). */
  readonly agreed: boolean;
  readonly late: boolean;
  /** Null once retention dropped them (GATEWAY_RETENTION_LOGS_MS after publication). */
  readonly logs: readonly string[] | null;
}

export interface RequestLogs {
  readonly requestId: string;
  readonly status: GatewayRequest['status'];
  readonly nodes: readonly NodeLogs[];
  /** Committee members without a recorded vote. */
  readonly silent: readonly string[];
}

/** The most requests one poll of --follow reads. */
const FOLLOW_PAGE = 100;
const WAIT_MS = 60_000;

export function registerLogsCommand(program: Command): void {
  addApiOptions(program
    .command('logs')
    .description('Print each node\'s captured logs of a request. With --follow, print the logs of a project\'s new requests as they finish, until interrupted (--json: one JSON line each).')
    .argument('[requestId]', 'the request (req_…); not with --follow')
    .option('--wait', 'wait until the request is published or failed first')
    .option('-f, --follow', 'poll the project\'s requests and print each new one\'s logs once it is final')
    .option(PROJECT_OPTION[0], `with --follow: ${PROJECT_OPTION[1]}`)
    .option('--interval <ms>', 'with --follow: how often to poll', '1000'))
    .action(async (requestId: string | undefined, options: LogsOptions) => {
      await runLogs(requestId, options);
    });
}

export async function runLogs(requestId: string | undefined, options: LogsOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const out = createOutput(options);
  if (options.follow && requestId !== undefined) throw new CliError('give a request id or --follow, not both', EXIT.usage);
  if (!options.follow && requestId === undefined) throw new CliError('give a request id (req_…), or --follow for a project\'s new requests', EXIT.usage);
  const { client, connection } = connect(options, env);
  if (requestId !== undefined) {
    const request = options.wait ? await waitForFinal(client, requestId, WAIT_MS) : await callApi(`read ${requestId}`, () => client.getRequest(requestId));
    const logs = collectLogs(request);
    out.json(logs);
    printLogs(out, logs);
    return;
  }
  const projectId = resolveProjectId(options.project, connection);
  const intervalMs = parsePositiveInteger('--interval', options.interval);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    out.line(out.dim(`following ${projectId}'s new requests (Ctrl-C to stop)`));
    await followLogs(client, projectId, { intervalMs, signal: controller.signal }, (logs) => {
      if (out.isJson) process.stdout.write(`${JSON.stringify(logs)}\n`);
      else printLogs(out, logs);
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * Polls the project's newest requests every `intervalMs` and hands each request that was not final
 * when following began to `print` once it is final, oldest first. Returns when `signal` aborts.
 */
export async function followLogs(client: GatewayClient, projectId: string, options: { intervalMs: number; signal: AbortSignal }, print: (logs: RequestLogs) => void): Promise<void> {
  const done = new Set<string>();
  let isFirst = true;
  while (!options.signal.aborted) {
    const page = await callApi(`list the requests of ${projectId}`, () => client.listRequests(projectId, { limit: FOLLOW_PAGE }));
    for (const request of [...page.items].reverse()) {
      if (done.has(request.id) || !isFinalStatus(request.status)) continue;
      done.add(request.id);
      // Requests already final when following began are history, not news.
      if (!isFirst) print(collectLogs(request));
    }
    isFirst = false;
    await sleep(options.intervalMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
}

export function collectLogs(request: GatewayRequest): RequestLogs {
  const votes = request.votes ?? [];
  const nodes = votes.map((vote) => ({
    nodeId: vote.nodeId,
    ok: vote.ok,
    agreed: request.resultHash !== undefined && !vote.late && vote.resultHash === request.resultHash,
    late: vote.late,
    logs: vote.logs ?? null,
  }));
  const voted = new Set(votes.map((v) => v.nodeId));
  return { requestId: request.id, status: request.status, nodes, silent: (request.committee ?? []).filter((id) => !voted.has(id)) };
}

function printLogs(out: Output, logs: RequestLogs): void {
  out.line(`${logs.requestId} ${logs.status}`);
  if (logs.nodes.length === 0 && logs.silent.length === 0) out.line(out.dim('  no committee yet'));
  for (const node of logs.nodes) {
    const verdict = [node.ok ? 'ok' : out.fail('threw'), node.agreed ? out.ok('agreed') : undefined, node.late ? 'late' : undefined].filter(Boolean).join(', ');
    out.line(`── ${node.nodeId} (${verdict})`);
    if (node.logs === null) out.line(out.dim('   logs removed by retention'));
    else if (node.logs.length === 0) out.line(out.dim('   no logs'));
    else for (const line of node.logs) out.line(`   ${line}`);
  }
  for (const nodeId of logs.silent) out.line(out.dim(`── ${nodeId} (no vote)`));
}

function isFinalStatus(status: GatewayRequest['status']): boolean {
  return status === 'published' || status === 'failed';
}
