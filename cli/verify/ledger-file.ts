// Ledger entries in a file (the ledger file of an export, JSON Lines): checked as one piece of the
// hash chain, each entry's hash over its fields and its link to the entry before it.
import { GENESIS_PREV_HASH, verifyLedgerEntries, type HashedLedgerEntry } from '../../lib/protocol/ledger.ts';
import { findLedgerEntryFormatProblem } from '../../lib/protocol/receipt.ts';
import type { ReceiptCheck } from '../../lib/protocol/verify-receipt.ts';

/**
 * The checks of ledger entries given in order: `format` (every line is a ledger entry) and
 * `ledger-chain` (consecutive seqs, each prevHash the hash of the entry before, each hash over its
 * fields; the first entry of the ledger chains from 64 zeros). A piece that starts later chains
 * from its first prevHash, which the export before it ends with (its last hash).
 */
export function verifyLedgerPiece(entries: readonly { readonly label: string; readonly entry: unknown }[]): ReceiptCheck[] {
  for (const { label, entry } of entries) {
    const problem = findLedgerEntryFormatProblem(entry);
    if (problem) return [{ name: 'format', ok: false, reason: `${label}: ${problem}` }];
  }
  const chain = entries.map((e) => e.entry as HashedLedgerEntry);
  const [first, last] = [chain[0], chain[chain.length - 1]];
  const checks: ReceiptCheck[] = [{ name: 'format', ok: true, reason: `${chain.length} ledger entries, seq ${first.seq}..${last.seq}` }];
  if (first.seq === 1 && first.prevHash !== GENESIS_PREV_HASH) {
    return [...checks, { name: 'ledger-chain', ok: false, reason: 'entry 1 does not start from 64 zeros' }];
  }
  const check = verifyLedgerEntries(chain, first.prevHash, first.seq);
  if (!check.ok) return [...checks, { name: 'ledger-chain', ok: false, reason: `entry ${check.badSeq} does not chain from the one before it (seq, prevHash or hash)` }];
  const start = first.seq === 1 ? 'the genesis' : `prevHash ${first.prevHash}, the hash of entry ${first.seq - 1} (the last of the export before)`;
  return [...checks, { name: 'ledger-chain', ok: true, reason: `entries ${first.seq}..${last.seq} link from ${start} to head ${last.hash}` }];
}
