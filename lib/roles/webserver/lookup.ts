// Loading what a route names, with the API's not-found answer.
import { GatewayError } from '../../errors.ts';
import { isId } from '../../ids.ts';
import type { Project, RequestRecord } from '../../repository/types.ts';
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
