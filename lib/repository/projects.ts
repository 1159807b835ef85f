// Projects: their records, the creation-time index, and the API key hashes that lead to them.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import type { CodeVersion, Page, Project } from './types.ts';

/** Project records and API key hashes (API keys themselves are never stored). */
export interface ProjectStore {
  /** Stores a new project with version 1 of its code and the hash of its API key. */
  putProject(project: Project, code: string, apiKeyHash: string, createdAtMs: number): Promise<void>;
  getProject(id: string): Promise<Project | null>;
  /** The project id an API key hash belongs to. */
  getProjectIdByKeyHash(apiKeyHash: string): Promise<string | null>;
  /** Newest first; the cursor is the creation time (ms) of the previous page's last project. */
  listProjects(limit: number, cursor?: string): Promise<Page<Project>>;
}

/** The project store over the shared connection. */
export function createProjectStore(redis: Redis, keys: Keys): ProjectStore {
  return {
    async putProject(project, code, apiKeyHash, createdAtMs) {
      const version: CodeVersion = { version: 1, codeCid: project.codeCid, createdAt: project.createdAt };
      await redis.multi()
        .set(keys.code(project.codeCid), code)
        .sadd(keys.codeUsers(project.codeCid), project.id)
        .set(keys.project(project.id), JSON.stringify(project))
        .hset(keys.projectVersions(project.id), '1', JSON.stringify(version))
        .set(keys.apiKey(apiKeyHash), project.id)
        .zadd(keys.projects, createdAtMs, project.id)
        .exec();
    },

    async getProject(id) {
      const doc = await redis.get(keys.project(id));
      return doc ? (JSON.parse(doc) as Project) : null;
    },

    getProjectIdByKeyHash: (apiKeyHash) => redis.get(keys.apiKey(apiKeyHash)),

    async listProjects(limit, cursor) {
      const max = cursor ? `(${cursor}` : '+inf';
      const ids = await redis.zrevrangebyscore(keys.projects, max, '-inf', 'LIMIT', 0, limit + 1);
      const docs = ids.length ? await redis.mget(ids.slice(0, limit).map(keys.project)) : [];
      const items = docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d) as Project);
      const last = items[items.length - 1];
      return { items, nextCursor: ids.length > limit && last ? String(Date.parse(last.createdAt)) : null };
    },
  };
}
