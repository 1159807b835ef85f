// The chain publication state machine, pure: where a request's result stands on its way to the
// contract after each event, and when to look at it again.
import type { ChainPublication } from '../../repository/types.ts';

/** What happened to a request's result on its way to the contract. */
export type PublicationEvent =
  /** The contract already holds a result for it (ours, sent before, or another gateway's). */
  | { readonly kind: 'answered' }
  /** The contract has no pending request for it any more. */
  | { readonly kind: 'not_pending'; readonly chainProjectId: number; readonly reqId: number }
  /** A transaction holding it was signed and is about to be broadcast. */
  | { readonly kind: 'signed'; readonly txHash: string }
  | { readonly kind: 'committed'; readonly txHash?: string; readonly height?: number }
  /** A try failed; `txHash` names a signed transaction whose fate is unknown. */
  | { readonly kind: 'error'; readonly message: string; readonly txHash?: string }
  /** Its result does not verify against its votes, its ledger entry or the contract's request: never sent. */
  | { readonly kind: 'unverified'; readonly reason: string };

export interface PublicationStep {
  readonly publication: ChainPublication;
  /** When to look at it again (its outbox score); null takes it out of the outbox. */
  readonly retryAtMs: number | null;
  /** True when this step gives up on it (a failure for good, counted as such). */
  readonly isFailure: boolean;
}

/** A signed transaction gets this long to be found before its requests are considered again. */
export const BROADCAST_RECHECK_MS = 90_000;
const MAX_BACKOFF_MS = 60_000;
const FIRST_BACKOFF_MS = 500;

/**
 * The next publication state: committed and failed leave the outbox; a signed transaction is
 * checked again after a while; an error is retried with exponential backoff (0.5 s doubling,
 * at most 60 s) until `maxAttempts` tries, then fails for good.
 */
export function nextPublication(current: ChainPublication | undefined, event: PublicationEvent, options: { nowMs: number; maxAttempts: number }): PublicationStep {
  const attempts = current?.attempts ?? 0;
  switch (event.kind) {
    case 'answered':
      return { publication: { attempts, status: 'committed', txHash: current?.txHash }, retryAtMs: null, isFailure: false };
    case 'not_pending':
      return {
        publication: { attempts, status: 'failed', error: `the contract has no pending request ${event.reqId} in project ${event.chainProjectId}` },
        retryAtMs: null,
        isFailure: true,
      };
    case 'unverified':
      return { publication: { attempts, status: 'failed', error: `the result does not verify: ${event.reason}` }, retryAtMs: null, isFailure: true };
    case 'signed':
      return { publication: { attempts, status: 'broadcast', txHash: event.txHash }, retryAtMs: options.nowMs + BROADCAST_RECHECK_MS, isFailure: false };
    case 'committed':
      return { publication: { attempts, status: 'committed', txHash: event.txHash, height: event.height }, retryAtMs: null, isFailure: false };
    case 'error': {
      const tries = attempts + 1;
      if (tries >= options.maxAttempts) return { publication: { ...current, status: 'failed', error: event.message, attempts: tries }, retryAtMs: null, isFailure: true };
      const publication: ChainPublication = event.txHash
        ? { status: 'broadcast', txHash: event.txHash, error: event.message, attempts: tries }
        : { status: 'pending', error: event.message, attempts: tries };
      return { publication, retryAtMs: options.nowMs + Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** tries), isFailure: false };
    }
  }
}
