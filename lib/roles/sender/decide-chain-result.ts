// What the contract may receive for a published chain request, pure: the result only when the
// request still says what its ledger entry says and the contract's pending request is the one that ran.
import { toHex } from '../../crypto/bytes.ts';
import { canonicalJson } from '../../crypto/canonical-json.ts';
import type { ChainResult, PendingChainRequest } from '../../chain/contract-schema.ts';
import { computeLedgerHash } from '../../protocol/ledger.ts';
import { computeInputHash } from '../../protocol/vote.ts';
import type { LedgerEntry, RequestRecord } from '../../repository/types.ts';
import { computeLedgerFields } from './decide-publication.ts';

export type ChainResultDecision =
  | { readonly kind: 'send'; readonly result: ChainResult }
  | { readonly kind: 'unverified'; readonly reason: string };

/**
 * The SaveResultMsg for `request`, whose stored outcome already passed the publication check, or
 * why it must not be sent. Sent only when the ledger holds an intact entry for it whose every field
 * (verdict, result hash, votes digest, code, input, round, rule) the request reproduces, and the
 * contract's pending request has the input the votes bind (`pendingInput`: its input parsed as the
 * inputter parses it). The result text is the canonical JSON of the checked value; `user` and
 * `request` are echoed from the contract, not from the store.
 */
export function decideChainResult(request: RequestRecord, entry: LedgerEntry | null, pending: PendingChainRequest, pendingInput: unknown): ChainResultDecision {
  const { assignment, outcome, origin } = request;
  if (request.status !== 'published' || !assignment || !outcome || !origin) return unverified(`it is ${request.status}, not a published chain request`);
  if (!entry || entry.requestId !== request.id) return unverified('the ledger holds no entry for it');
  if (computeLedgerHash(entry) !== entry.hash) return unverified(`its ledger entry ${entry.seq} does not hash to its hash`);
  const expected = computeLedgerFields({ ...request, assignment, outcome });
  for (const field of Object.keys(expected) as (keyof typeof expected)[]) {
    if (entry[field] !== expected[field]) return unverified(`its ${field} is not the one in ledger entry ${entry.seq}`);
  }
  if (toHex(computeInputHash(pendingInput)) !== entry.inputHash) {
    return unverified(`the contract's pending request ${pending.reqId} has another input than the one that ran`);
  }
  return {
    kind: 'send',
    result: { projectId: origin.chainProjectId, reqId: pending.reqId, user: pending.user, request: pending.input, result: canonicalJson(outcome.value) },
  };
}

function unverified(reason: string): ChainResultDecision {
  return { kind: 'unverified', reason };
}
