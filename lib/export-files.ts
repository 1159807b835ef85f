// Export files (docs/operations.md, "Retention and export"): the ledger entries and the receipts of
// one seq range as JSON Lines, `ledger-<from>-<to>.jsonl` and `receipts-<from>-<to>.jsonl`, which
// `gateway verify` checks. Written under a temporary name, flushed to disk, then renamed: a file
// with its final name is complete. Used by `gateway export` and the scheduler's export.
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { HashedLedgerEntry } from './protocol/ledger.ts';
import type { ExportRecord } from './repository/exports.ts';

/** Bytes gathered before one write. */
const FLUSH_BYTES = 1 << 20;

/** The two file names of the export of seqs `fromSeq..toSeq`. */
export function exportFileNames(fromSeq: number, toSeq: number): { ledgerFile: string; receiptsFile: string } {
  return { ledgerFile: `ledger-${fromSeq}-${toSeq}.jsonl`, receiptsFile: `receipts-${fromSeq}-${toSeq}.jsonl` };
}

/** A file name an export record may carry: no path, nothing a shell or a URL would read differently. */
export function isExportFileName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name);
}

/** A JSON Lines file being written: one value per line; `commit` makes it appear under its name. */
export interface JsonLinesWriter {
  write(value: unknown): Promise<void>;
  /** Flushes, syncs and renames the file into place. */
  commit(): Promise<void>;
  /** Removes the unfinished file. */
  abort(): Promise<void>;
}

/** Starts `dir/name` (written as `dir/.name.partial` until committed). */
export async function openJsonLines(dir: string, name: string): Promise<JsonLinesWriter> {
  const final = join(dir, name);
  const partial = join(dir, `.${name}.partial`);
  const file: FileHandle = await open(partial, 'w', 0o600);
  let buffer = '';
  let isClosed = false;
  const flush = async () => {
    if (buffer === '') return;
    const text = buffer;
    buffer = '';
    await file.write(text);
  };
  return {
    async write(value) {
      buffer += `${JSON.stringify(value)}\n`;
      if (buffer.length >= FLUSH_BYTES) await flush();
    },
    async commit() {
      await flush();
      await file.sync();
      await file.close();
      isClosed = true;
      await rename(partial, final);
    },
    async abort() {
      if (!isClosed) await file.close().catch(() => undefined);
      isClosed = true;
      await rm(partial, { force: true });
    },
  };
}

/** Where an export reads from: the gateway's repository (the scheduler) or its API (`gateway export`). */
export interface ExportSource {
  /** Ledger entries with seq > `after`, oldest first, at most `limit` (entries removed are skipped). */
  listEntries(after: number, limit: number): Promise<readonly HashedLedgerEntry[]>;
  /** The receipts of these requests, in order; null for a request no longer kept (an earlier export holds it). */
  getReceipts(requestIds: readonly string[]): Promise<readonly (unknown | null)[]>;
}

/** Entries read per page. */
const EXPORT_PAGE = 200;

/**
 * Writes the export of seqs `fromSeq..toSeq` into `dir`: every ledger entry, and the receipt of each
 * entry's request still kept. Throws when the ledger no longer holds `fromSeq` (retention removed
 * it) or ends before `toSeq`; no file with a final name is left then.
 */
export async function writeExport(dir: string, fromSeq: number, toSeq: number, source: ExportSource, now: () => number): Promise<{ record: ExportRecord; missingReceipts: number }> {
  const names = exportFileNames(fromSeq, toSeq);
  const ledger = await openJsonLines(dir, names.ledgerFile);
  const receipts = await openJsonLines(dir, names.receiptsFile);
  let [receiptCount, missingReceipts, firstCreatedMs, lastCreatedMs] = [0, 0, Infinity, -Infinity];
  try {
    for (let next = fromSeq; next <= toSeq;) {
      const page = await source.listEntries(next - 1, Math.min(EXPORT_PAGE, toSeq - next + 1));
      if (page.length === 0) throw new RangeError(`the ledger ends before seq ${next}`);
      if (page[0].seq !== next) throw new RangeError(`seq ${next} is no longer kept (the ledger starts at ${page[0].seq}); an earlier export holds it`);
      const found = await source.getReceipts(page.map((entry) => entry.requestId));
      for (let i = 0; i < page.length; i++) {
        const entry = page[i];
        await ledger.write(entry);
        const createdMs = Date.parse(entry.createdAt);
        [firstCreatedMs, lastCreatedMs] = [Math.min(firstCreatedMs, createdMs), Math.max(lastCreatedMs, createdMs)];
        if (found[i] === null) missingReceipts++;
        else {
          await receipts.write(found[i]);
          receiptCount++;
        }
      }
      next = page[page.length - 1].seq + 1;
    }
    await ledger.commit();
    await receipts.commit();
  } catch (error) {
    await ledger.abort();
    await receipts.abort();
    throw error;
  }
  const record: ExportRecord = {
    fromSeq, toSeq, ...names, receipts: receiptCount,
    firstCreatedAt: new Date(firstCreatedMs).toISOString(), lastCreatedAt: new Date(lastCreatedMs).toISOString(), exportedAt: new Date(now()).toISOString(),
  };
  return { record, missingReceipts };
}
