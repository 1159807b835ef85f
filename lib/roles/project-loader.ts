// A project's settings as the receiver and the executors read them: one read reused for two seconds.
import type { Repository } from '../repository/index.ts';
import type { Project } from '../repository/types.ts';
import type { Clock } from '../runtime/common.ts';

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
  const cache = new Map<string, { project: Promise<Project | null>; loadedAt: number }>();
  return (id) => {
    const cached = cache.get(id);
    if (cached && clock.now() - cached.loadedAt < PROJECT_CACHE_MS) return cached.project;
    const project = repository.getProject(id);
    const entry = { project, loadedAt: clock.now() };
    cache.delete(id);
    cache.set(id, entry);
    if (cache.size > MAX_PROJECTS) cache.delete(cache.keys().next().value!);
    // Only a project found is kept: a miss or a failed read is read again next time.
    project.then((found) => { if (!found && cache.get(id) === entry) cache.delete(id); }, () => { if (cache.get(id) === entry) cache.delete(id); });
    return project;
  };
}
