// A project's settings as the receiver and the executors read them, and its secrets as the executors
// open them: one read reused for two seconds.
import type { Repository } from '../repository/index.ts';
import type { Project } from '../repository/types.ts';
import type { Clock } from '../runtime/common.ts';
import { createLoadCache } from './load-cache.ts';

/** How long one read of a project (or of its secrets) serves: a change of its limits, committee or secrets applies within this. */
export const PROJECT_CACHE_MS = 2000;
// Projects kept at most (the least recently read go first).
const MAX_PROJECTS = 1024;

/**
 * Loads a project, reusing one read for PROJECT_CACHE_MS (limits and committee settings changed by
 * the operator apply within that). A missing project is not remembered. Concurrent loads of one
 * project while none is kept share one read. At most 1,024 projects are kept (the oldest reads go first).
 */
export function createProjectLoader(repository: Pick<Repository, 'getProject'>, clock: Clock): (id: string) => Promise<Project | null> {
  return createLoadCache({ load: (id: string) => repository.getProject(id), isKept: (project) => project !== null, maxEntries: MAX_PROJECTS, ttl: { ms: PROJECT_CACHE_MS, clock } });
}

/**
 * Loads a project's secrets, opened, reusing one read for PROJECT_CACHE_MS as projects are (a
 * secret set or removed applies to runs within that; the values stay in the executor's memory no
 * longer than they would for its runs). A failed read is not kept; an empty set is.
 */
export function createSecretsLoader(repository: Pick<Repository, 'getSecrets'>, clock: Clock): (projectId: string) => Promise<Record<string, string>> {
  return createLoadCache({ load: (id: string) => repository.getSecrets(id), isKept: () => true, maxEntries: MAX_PROJECTS, ttl: { ms: PROJECT_CACHE_MS, clock } });
}
