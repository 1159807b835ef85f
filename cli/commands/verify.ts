// `gateway verify <receipt.json | requestId>`: checks request receipts offline (protocol v2,
// docs/protocol.md "Checking a receipt") and prints every check; `--replay` also runs the code again.
// Ledger entries in the file (an export's ledger file) are checked as one piece of the hash chain.
// Exit 0 when every check of every receipt passed, 1 when one failed, 2 for a usage error, 3 when a
// file or the gateway cannot be reached.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { findReceiptFormatProblem, type Receipt } from '../../lib/protocol/receipt.ts';
import { verifyReceipt, type ReceiptCheck } from '../../lib/protocol/verify-receipt.ts';
import { createSandboxRunner, type SandboxRunner } from '../../lib/sandbox/runner.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput, type Output } from '../output.ts';
import { counterScope, createCounterPins, knownCountersFile, type CounterPin } from '../verify/known-counters.ts';
import { createGatewayClient, readCodeFile, readReceiptFile, readSecretsFile, type ReceiptItem } from '../verify/receipt-sources.ts';
import { verifyLedgerPiece } from '../verify/ledger-file.ts';
import { replayReceipt, type ReplayCheck } from '../verify/replay.ts';

interface VerifyOptions {
  readonly url?: string;
  readonly token?: string;
  readonly counterKey?: string;
  readonly replay?: boolean;
  readonly code?: string;
  readonly secrets?: string;
  readonly json?: boolean;
}

type PrintedCheck = ReceiptCheck | ReplayCheck;

/** The verdict on one item of the input. */
interface ReceiptReport {
  readonly label: string;
  readonly requestId?: string;
  readonly ok: boolean;
  readonly checks: readonly PrintedCheck[];
  /** The ledger entries of the file, checked as one chain. */
  readonly isLedger?: boolean;
}

const REQUEST_ID = /^req_[A-Za-z0-9]{1,64}$/;

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('Verify request receipts offline: node records, the round chain under the counter key, the ticket set, the committee, every vote, the tally, the ledger entry and the chain to the round that anchors it.')
    .argument('<receipt>', 'a receipt file (JSON, or JSON Lines with one receipt per line, as `gateway export` writes), an export\'s ledger file (JSON Lines of ledger entries), or a request id (req_…) to fetch from --url')
    .option('--url <url>', 'the gateway to fetch a receipt (and code for --replay) from; default GATEWAY_URL')
    .option('--token <token>', 'the project key or admin token for the receipt; default GATEWAY_TOKEN')
    .option('--counter-key <hex>', 'the counter public key the operator publishes; without it the first key seen is trusted and kept')
    .option('--replay', 'run the code again in the sandbox with the recorded input, seed and time, and compare the result hash')
    .option('--code <file>', 'the code for --replay (default: GET /v1/code/:cid from --url); it must hash to the receipt\'s code id')
    .option('--secrets <file>', 'the project\'s secrets for --replay, as .env lines or a JSON object (secrets come from nowhere else)')
    .option('--json', 'print one JSON document')
    .action((target: string, options: VerifyOptions) => runVerify(target, options, process.env));
}

async function runVerify(target: string, options: VerifyOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const out = createOutput(options);
  const url = options.url ?? (env.GATEWAY_URL || undefined);
  const token = options.token ?? (env.GATEWAY_TOKEN || undefined);
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) throw new CliError(`--url must be an http(s) URL, got ${url.slice(0, 100)}`, EXIT.usage);
  const client = url ? createGatewayClient(url, token) : undefined;
  const isFile = existsSync(target);
  if (!isFile && !REQUEST_ID.test(target)) throw new CliError(`${target} is neither a file nor a request id`, EXIT.environment);
  if (!isFile && !client) throw new CliError('a request id needs --url (or GATEWAY_URL) to fetch its receipt from', EXIT.usage);
  if (options.replay && !options.code && !client) throw new CliError('--replay needs --code FILE or --url to fetch the code', EXIT.usage);
  const secrets = options.replay && options.secrets ? readSecretsFile(options.secrets) : {};
  const items: ReceiptItem[] = isFile ? readReceiptFile(target) : [{ label: `${url} ${target}`, receipt: await client!.getReceipt(target) }];
  const pins = createCounterPins({ flag: options.counterKey, scope: counterScope(isFile ? undefined : url), file: knownCountersFile(env), now: () => new Date() });

  let runner: SandboxRunner | undefined;
  const reports: ReceiptReport[] = [];
  let pinShown: CounterPin | undefined;
  const ledgerEntries = items.flatMap((item) => ('ledgerEntry' in item ? [{ label: item.label, entry: item.ledgerEntry }] : []));
  if (ledgerEntries.length > 0) {
    const checks = verifyLedgerPiece(ledgerEntries);
    reports.push({ label: `${target}: ${ledgerEntries.length} ledger entries`, ok: checks.every((c) => c.ok), checks, isLedger: true });
  }
  try {
    for (const item of items) {
      if ('ledgerEntry' in item) continue;
      if ('error' in item) {
        reports.push({ label: item.label, ok: false, checks: [{ name: 'format', ok: false, reason: item.error }] });
        continue;
      }
      const receipt = item.receipt as Receipt;
      const isReceipt = findReceiptFormatProblem(receipt) === null;
      const pin = isReceipt ? pins.pinFor(receipt.counterPublicKey) : undefined;
      if (pin && pin !== pinShown) {
        out.line(out.dim(describePin(pin)));
        pinShown = pin;
      }
      const checks: PrintedCheck[] = verifyReceipt(receipt, pin?.key ?? '').map((check) =>
        check.name === 'counter-key' && !pin ? { ...check, reason: 'no counter key to check against: the receipt names none; pass --counter-key' } : check);
      if (options.replay && isReceipt) {
        runner ??= createSandboxRunner();
        checks.push(await replay(runner, receipt, options, client, secrets));
      }
      reports.push({ label: item.label, requestId: isReceipt ? receipt.request.id : undefined, ok: checks.every((c) => c.ok), checks });
    }
  } finally {
    await runner?.close();
  }
  print(out, reports, pinShown);
  if (!reports.every((r) => r.ok)) process.exitCode = EXIT.failed;
}

async function replay(runner: SandboxRunner, receipt: Receipt, options: VerifyOptions, client: ReturnType<typeof createGatewayClient> | undefined, secrets: Record<string, string>): Promise<ReplayCheck> {
  const { codeCid, projectId } = receipt.request;
  try {
    const code = options.code ? readCodeFile(options.code, codeCid) : await client!.getCode(codeCid);
    const limits = await client?.getProjectLimits(projectId);
    return await replayReceipt(runner, receipt, code, secrets, limits);
  } catch (error) {
    // A code file or blob that is not this receipt's code fails the replay, not the run.
    if (error instanceof CliError && error.exitCode === EXIT.failed) return { name: 'replay', ok: false, reason: error.message, isWebDependent: false, fetchCalls: 0 };
    throw error;
  }
}

function describePin(pin: CounterPin): string {
  switch (pin.source) {
    case 'flag':
      return `counter key ${pin.key} (from --counter-key)`;
    case 'known':
      return `counter key ${pin.key}, kept for ${pin.scope} since ${pin.since ?? 'an earlier run'} (${pin.file})`;
    case 'first-use':
      return `counter key ${pin.key}: trusted on first use for ${pin.scope}, kept in ${pin.file}; check it against the key the operator publishes`;
  }
}

function print(out: Output, reports: readonly ReceiptReport[], pin: CounterPin | undefined): void {
  const width = Math.max(...reports.flatMap((r) => r.checks.map((c) => c.name.length)), 0);
  for (const report of reports) {
    out.line(report.isLedger ? `ledger ${out.dim(`(${report.label})`)}` : `${report.requestId ?? 'receipt'} ${out.dim(`(${report.label})`)}`);
    for (const check of report.checks) {
      const isWarning = check.name === 'replay' && check.ok && (check as ReplayCheck).isWebDependent;
      const status = !check.ok ? out.fail('FAIL') : isWarning ? out.fail('warn') : out.ok('ok  ');
      out.line(`  ${status}  ${check.name.padEnd(width)}  ${check.reason}`);
    }
    const passed = report.checks.filter((c) => c.ok).length;
    out.line(`  ${report.ok ? out.ok(`all ${passed} checks passed`) : out.fail(`${report.checks.length - passed} of ${report.checks.length} checks failed`)}`);
  }
  const verified = reports.filter((r) => !r.isLedger);
  const ledger = reports.find((r) => r.isLedger);
  if (reports.length > 1 && verified.length > 0) {
    const failed = verified.filter((r) => !r.ok).length;
    out.line(`${verified.length} receipt${verified.length === 1 ? '' : 's'}: ${verified.length - failed} verified, ${failed} failed`);
  }
  out.json({
    ok: reports.every((r) => r.ok),
    counterKey: pin ?? null,
    ...(ledger ? { ledger: { label: ledger.label, ok: ledger.ok, checks: ledger.checks } } : {}),
    receipts: verified.map(({ label, requestId, ok, checks }) => ({ label, requestId: requestId ?? null, ok, checks: checks.map(toJsonCheck) })),
  });
}

function toJsonCheck(check: PrintedCheck) {
  if (check.name !== 'replay') return check;
  const { name, ok, reason, isWebDependent, fetchCalls, resultHash } = check as ReplayCheck;
  return { name, ok, reason, isWebDependent, fetchCalls, ...(resultHash ? { resultHash } : {}) };
}
