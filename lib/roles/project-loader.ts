// A project's settings as the receiver and the executors read them: one read reused for two seconds.
import type { Repository } from '../repository/index.ts';
import type { Project } from '../repository/types.ts';
import type { Clock } from '../runtime/common.ts';
import { createLoadCache } from './load-cache.ts';

/** How long one read of a project serves: a change of its limits or committee applies within this. */
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
