// Exports (admin): the export mark and the exports recorded so far, and recording one that
// `gateway export` wrote; retention removes no published request the mark has not passed.
import type { Router } from '@koa/router';
import { GatewayError } from '../../errors.ts';
import { isExportFileName } from '../../export-files.ts';
import type { ExportRecord } from '../../repository/exports.ts';
import { assertConforms, ExportBody } from './api-schemas.ts';
import { requireAdmin } from './auth.ts';
import type { WebDeps } from './deps.ts';
import { parseListQuery } from './parse-query.ts';

const FIELDS = ['fromSeq', 'toSeq', 'ledgerFile', 'receiptsFile', 'receipts', 'firstCreatedAt', 'lastCreatedAt'] as const;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function addExportRoutes(router: Router, deps: WebDeps): void {
  const { repository, clock } = deps;

  router.get('/v1/exports', async (ctx) => {
    requireAdmin(ctx);
    const { limit } = parseListQuery(ctx.query, 'seq');
    const [through, items, base] = await Promise.all([repository.getExportThrough(), repository.listExports(limit), repository.getLedgerBase()]);
    ctx.body = { exportedThrough: through, removedThrough: base.seq, items };
  });

  router.post('/v1/exports', async (ctx) => {
    requireAdmin(ctx);
    const body = parseExportBody(await deps.readBody(ctx));
    const length = await repository.getLedgerLength();
    if (body.toSeq > length) throw new GatewayError('invalid_body', `toSeq ${body.toSeq} is past the ledger's length ${length}`, { details: [`toSeq: at most ${length}`] });
    const put = await repository.putExport({ ...body, exportedAt: new Date(clock.now()).toISOString() });
    if (put.outcome === 'gap') throw new GatewayError('conflict', `the exports reach seq ${put.through}: an export must start at or before seq ${put.through + 1}`);
    ctx.status = 201;
    ctx.body = { exportedThrough: put.through };
  });
}

/** The body of `POST /v1/exports`: what `gateway export` wrote. Throws `invalid_body` naming every problem. */
function parseExportBody(body: unknown): Omit<ExportRecord, 'exportedAt'> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('invalid_body', 'invalid body: body: must be a JSON object', { details: ['body: must be a JSON object'] });
  const record = body as Record<string, unknown>;
  const problems = Object.keys(record).filter((k) => !(FIELDS as readonly string[]).includes(k)).map((k) => `${k}: unknown field`);
  const seq = (field: string) => {
    const value = record[field];
    if (!Number.isSafeInteger(value) || (value as number) < (field === 'receipts' ? 0 : 1)) problems.push(`${field}: must be an integer of at least ${field === 'receipts' ? 0 : 1}`);
  };
  ['fromSeq', 'toSeq', 'receipts'].forEach(seq);
  for (const field of ['ledgerFile', 'receiptsFile']) if (typeof record[field] !== 'string' || !isExportFileName(record[field])) problems.push(`${field}: a file name of letters, digits, ".", "_" and "-"`);
  for (const field of ['firstCreatedAt', 'lastCreatedAt']) if (typeof record[field] !== 'string' || !TIMESTAMP.test(record[field])) problems.push(`${field}: a time as YYYY-MM-DDTHH:mm:ss.sssZ`);
  if (problems.length === 0 && (record.fromSeq as number) > (record.toSeq as number)) problems.push('fromSeq: must not be after toSeq');
  if (problems.length > 0) throw new GatewayError('invalid_body', `invalid body: ${problems.join('; ')}`, { details: problems });
  assertConforms(ExportBody, record, 'export body');
  return record as unknown as Omit<ExportRecord, 'exportedAt'>;
}
