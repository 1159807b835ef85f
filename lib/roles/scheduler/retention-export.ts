// The scheduler's export (GATEWAY_EXPORT_DIR): under its lease, every GATEWAY_EXPORT_EVERY_MS, the
// ledger entries anchored since the last export and their receipts go to JSON Lines files, and the
// export mark moves on: retention removes no published request the mark has not passed.
import { mkdir } from 'node:fs/promises';
import { toHex } from '../../crypto/bytes.ts';
import { publicKey as vrfPublicKeyOf } from '../../crypto/ecvrf.ts';
import { writeExport, type ExportSource } from '../../export-files.ts';
import type { Logger } from '../../logger.ts';
import { createReceipt } from '../../protocol/receipt.ts';
import type { Repository } from '../../repository/index.ts';
import type { ExportRecord } from '../../repository/exports.ts';
import type { Clock } from '../../runtime/common.ts';

/** Entries per export file at most: a file stays small enough to copy and verify in one go. */
export const EXPORT_FILE_ENTRIES = 10_000;
/** Files one run writes at most (a backlog is caught up over the next runs). */
const FILES_PER_RUN = 10;

export interface ScheduledExportDeps {
  readonly repository: Pick<Repository, 'getExportThrough' | 'putExport' | 'getLatestRoundNumber' | 'getRound' | 'listLedger' | 'getReceiptSources'>;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly counterKey: Uint8Array;
  readonly dir: string;
}

/** One export run: writes what was anchored since the mark, returns the exports recorded. */
export function createScheduledExport(deps: ScheduledExportDeps, isLeader: () => boolean): () => Promise<ExportRecord[]> {
  const { repository, logger, clock, dir } = deps;
  const source = createRepositoryExportSource(repository, toHex(vrfPublicKeyOf(deps.counterKey)));
  return async function exportAnchored() {
    if (!isLeader()) return [];
    await mkdir(dir, { recursive: true });
    const latest = await repository.getLatestRoundNumber();
    // A receipt needs the round that anchors its entry: export only what the latest round anchors.
    const anchoredLength = latest > 0 ? ((await repository.getRound(latest))?.ledgerLength ?? 0) : 0;
    const recorded: ExportRecord[] = [];
    let through = await repository.getExportThrough();
    while (recorded.length < FILES_PER_RUN && through < anchoredLength && isLeader()) {
      const fromSeq = through + 1;
      const toSeq = Math.min(anchoredLength, through + EXPORT_FILE_ENTRIES);
      const { record, missingReceipts } = await writeExport(dir, fromSeq, toSeq, source, () => clock.now());
      const put = await repository.putExport(record);
      if (put.outcome === 'gap') {
        logger.warn({ fromSeq, through: put.through }, 'export not recorded: the export mark moved');
        break;
      }
      logger.info({ fromSeq, toSeq, receipts: record.receipts, missingReceipts, file: record.receiptsFile }, 'exported');
      recorded.push(record);
      through = put.through;
    }
    return recorded;
  };
}

/** Entries and receipts read from the repository, as the receipt route builds them. */
export function createRepositoryExportSource(repository: Pick<Repository, 'listLedger' | 'getReceiptSources'>, counterPublicKey: string | null): ExportSource {
  return {
    listEntries: async (after, limit) => (await repository.listLedger(after, limit)).items,
    async getReceipts(requestIds) {
      return Promise.all(requestIds.map(async (id) => {
        const read = await repository.getReceiptSources(id);
        if (read.kind === 'ready') return createReceipt({ ...read.sources, counterPublicKey });
        if (read.kind === 'not_found') return null;
        throw new Error(`request ${id} has no receipt to export (${read.kind})`);
      }));
    },
  };
}
