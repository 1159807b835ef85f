// The export index: the last ledger seq exported (the mark retention removes published requests
// up to) and one record per export, scored by its last seq.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';

// KEYS: export through, export files. ARGV: from seq, to seq, the export's JSON. Records an export
// that continues the exported range (no gap), and moves the mark to its last seq.
const PUT_EXPORT = createScript(`
local through = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > through + 1 then return {'gap', through} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if tonumber(ARGV[2]) > through then redis.call('SET', KEYS[1], ARGV[2]) end
return {'recorded', math.max(through, tonumber(ARGV[2]))}
`);

/** What an export wrote: its two files, the seq range, how many receipts, and its requests' creation times. */
export interface ExportRecord {
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly ledgerFile: string;
  readonly receiptsFile: string;
  readonly receipts: number;
  /** Earliest and latest `createdAt` of the exported entries (ISO): which requests' times the export covers. */
  readonly firstCreatedAt: string;
  readonly lastCreatedAt: string;
  readonly exportedAt: string;
}

export interface ExportStore {
  /** The last seq exported (0 before any export). */
  getExportThrough(): Promise<number>;
  /** Records an export; `gap` when it starts after the exported range's end + 1 (then nothing is recorded). */
  putExport(record: ExportRecord): Promise<{ outcome: 'recorded' | 'gap'; through: number }>;
  /** The export holding ledger seq `seq`, if one was recorded. */
  findExportOfSeq(seq: number): Promise<ExportRecord | null>;
  /** Exports, newest first, at most `limit`. */
  listExports(limit: number): Promise<ExportRecord[]>;
}

/** The export index over the shared connection. */
export function createExportStore(redis: Redis, keys: Keys): ExportStore {
  return {
    getExportThrough: async () => Number((await redis.get(keys.exportThrough)) ?? 0),

    async putExport(record) {
      const [outcome, through] = (await PUT_EXPORT(redis, [keys.exportThrough, keys.exportFiles], [record.fromSeq, record.toSeq, JSON.stringify(record)])) as [string, number];
      return { outcome: outcome as 'recorded' | 'gap', through: Number(through) };
    },

    async findExportOfSeq(seq) {
      // Exports end in order of their last seq; one that ends at or after `seq` and starts at or before it holds it
      // (a range exported again is recorded again: the first few that end after `seq` are enough to look at).
      const docs = await redis.zrangebyscore(keys.exportFiles, String(seq), '+inf', 'LIMIT', 0, 10);
      return docs.map((doc) => JSON.parse(doc) as ExportRecord).find((record) => record.fromSeq <= seq) ?? null;
    },

    listExports: async (limit) => (await redis.zrevrange(keys.exportFiles, 0, limit - 1)).map((doc) => JSON.parse(doc) as ExportRecord),
  };
}
