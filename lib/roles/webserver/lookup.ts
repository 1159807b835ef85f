// Loading what a route names, with the API's not-found answer, and `410 gone` for a request that
// retention removed.
import type { Context } from 'koa';
import { GatewayError } from '../../errors.ts';
import { isId } from '../../ids.ts';
import type { Project, RequestRecord } from '../../repository/types.ts';
import { requireProject } from './auth.ts';
import type { WebDeps } from './deps.ts';

/** The project `id`, or GatewayError `not_found`. */
export async function loadProject(deps: Pick<WebDeps, 'repository'>, id: string): Promise<Project> {
  const project = isId('prj', id) ? await deps.repository.getProject(id) : null;
  if (!project) throw new GatewayError('not_found', `project ${id} not found`);
  return project;
}

/** The request `id`, or GatewayError `not_found`. */
export async function loadRequest(deps: Pick<WebDeps, 'repository'>, id: string): Promise<RequestRecord> {
  const request = isId('req', id) ? await deps.repository.getRequest(id) : null;
  if (!request) throw new GatewayError('not_found', `request ${id} not found`);
  return request;
}

/**
 * The request `id`; once retention removed it, GatewayError `gone` (410) naming the export that
 * holds its receipt, for its project's key or the admin token (its tombstone keeps the project).
 * Past the tombstone's life (about twice GATEWAY_RETENTION_MS after its creation) nothing tells a
 * removed request from one that never existed: `not_found`.
 */
export async function loadKeptRequest(deps: Pick<WebDeps, 'repository'>, ctx: Context, id: string): Promise<RequestRecord> {
  const request = isId('req', id) ? await deps.repository.getRequest(id) : null;
  if (request) return request;
  if (isId('req', id)) await throwIfRemoved(deps, ctx, id);
  throw new GatewayError('not_found', `request ${id} not found`);
}

async function throwIfRemoved(deps: Pick<WebDeps, 'repository'>, ctx: Context, id: string): Promise<void> {
  const tombstone = await deps.repository.getTombstone(id);
  if (tombstone) {
    requireProject(ctx, tombstone.projectId);
    if (tombstone.seq === 0) throw new GatewayError('gone', `request ${id} was removed by retention; it was not published, so no export holds a receipt of it`);
    const found = await deps.repository.findExportOfSeq(tombstone.seq);
    if (!found) throw new GatewayError('gone', `request ${id} was removed by retention; its ledger entry is ${tombstone.seq}`);
    throw new GatewayError('gone', `request ${id} was removed by retention; its receipt is in the export ${found.receiptsFile} (ledger entry ${tombstone.seq}, in ${found.ledgerFile})`, {
      details: [`receipts: ${found.receiptsFile}`, `ledger: ${found.ledgerFile}`, `seq: ${tombstone.seq}`],
    });
  }
}
