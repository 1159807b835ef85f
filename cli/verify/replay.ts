// `gateway verify --replay`: runs a receipt's code again, in the executors' sandbox (in-process
// isolates, the same bootstrap and limits), with the recorded input, request seed and accepted-at
// time, and compares the result hash. Code that called fetch depends on the web: a different result
// is reported, not failed.
import { fromHex, toHex } from '../../lib/crypto/bytes.ts';
import { computeResultHash, errorResult } from '../../lib/crypto/canonical-json.ts';
import { loadConfig } from '../../lib/config.ts';
import { effectiveLimits, fetchPolicyOf, sandboxLimitsOf, type ProjectLimits } from '../../lib/limits.ts';
import type { Receipt } from '../../lib/protocol/receipt.ts';
import { computeRequestSeed } from '../../lib/protocol/rounds.ts';
import { createGuardedFetch, type SandboxFetch } from '../../lib/sandbox/guarded-fetch.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';

/** The replay's verdict, printed as a check: `isWebDependent` when the code called fetch. */
export interface ReplayCheck {
  readonly name: 'replay';
  readonly ok: boolean;
  readonly reason: string;
  readonly isWebDependent: boolean;
  readonly fetchCalls: number;
  readonly resultHash?: string;
}

const PREVIEW_CHARS = 200;

/**
 * Replays the receipt's request with `code` (already checked against the receipt's content id) and
 * `secrets`, under `limits` (the project's when known; else the gateway defaults).
 */
export async function replayReceipt(runner: SandboxRunner, receipt: Receipt, code: string, secrets: Record<string, string>, limits?: Partial<ProjectLimits>): Promise<ReplayCheck> {
  const { request, assignment, result } = receipt;
  const round = receipt.rounds.find((r) => r.round === assignment.round);
  if (!round || !/^[0-9a-f]{64}$/.test(round.seed)) return { name: 'replay', ok: false, reason: `round ${assignment.round} (the assignment round) is not in the receipt`, isWebDependent: false, fetchCalls: 0 };
  // Only the defaults are wanted from the configuration: the environment of this machine plays no part.
  const config = loadConfig({});
  // The project's own limits where known (the operator's ceilings are not known here), else the defaults.
  const runLimits: ProjectLimits = { ...effectiveLimits({ limits: {} }, config), ...limits };
  const runEnd = new AbortController();
  const guarded = createGuardedFetch(fetchPolicyOf(runLimits, config), { signal: runEnd.signal });
  let fetchCalls = 0;
  const fetch: SandboxFetch = (url, init) => {
    fetchCalls++;
    return guarded(url, init);
  };
  let value: unknown;
  try {
    const outcome = await runner.run({
      codeKey: request.codeCid,
      code,
      input: request.input,
      context: {
        requestId: request.id, projectId: request.projectId, round: assignment.round, secrets,
        seed: toHex(computeRequestSeed(fromHex(round.seed, 32), request.id)), acceptedAtMs: Date.parse(request.createdAt),
      },
      limits: sandboxLimitsOf(runLimits),
      fetch,
    });
    value = outcome.ok ? outcome.value : errorResult(outcome.error);
  } finally {
    runEnd.abort();
  }
  const resultHash = toHex(computeResultHash(value));
  const isWebDependent = fetchCalls > 0;
  const web = isWebDependent ? `the code called fetch ${fetchCalls} time${fetchCalls === 1 ? '' : 's'}, so its result depends on the web` : '';
  if (resultHash === result.resultHash) {
    return { name: 'replay', ok: true, reason: `run again here, the code returns the result hash ${resultHash}${web ? ` (${web})` : ''}`, isWebDependent, fetchCalls, resultHash };
  }
  const got = `the replay returned ${preview(value)} (hash ${resultHash}), not the receipt's ${result.resultHash}`;
  if (isWebDependent) return { name: 'replay', ok: true, reason: `${web}: ${got}; not a failure by itself`, isWebDependent, fetchCalls, resultHash };
  return { name: 'replay', ok: false, reason: got, isWebDependent, fetchCalls, resultHash };
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}
