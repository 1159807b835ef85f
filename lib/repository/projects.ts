// Projects: their records, the creation-time index, and the API key hashes that lead to them.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { CodeVersion, Page, Project } from './types.ts';

// KEYS: the project's key hash, the project record. ARGV: the new key's hash, project id, the API key
// key prefix (`…:apikey:`). The new key works and the old one stops in one step; a re-sent call finds
// its own hash in place and changes nothing.
const ROTATE_API_KEY = createScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local old = redis.call('GET', KEYS[1])
if old == ARGV[1] then return 1 end
if old then redis.call('DEL', ARGV[3] .. old) end
redis.call('SET', ARGV[3] .. ARGV[1], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return 1
`);

// KEYS: project, versions, secrets, the project's schedules, its key hash, its open requests, the
// projects index, its request list, the global schedule set, chain bindings, chain binding of.
// ARGV: project id, the control plane's key prefix (`<prefix>:{ctl}:`). Everything the project owns
// goes in one step (all on the control plane's slot), or nothing while a request of it is open:
// code blobs no other project uses, schedules with their refusals, the API key, the chain binding,
// the admission sets of each version. Requests already final stay until retention removes them.
const DELETE_PROJECT = createScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not_found' end
if redis.call('ZCARD', KEYS[6]) > 0 then return 'in_use' end
local c = ARGV[2]
local id = ARGV[1]
local versions = redis.call('HGETALL', KEYS[2])
for i = 1, #versions, 2 do
  local cid = cjson.decode(versions[i + 1]).codeCid
  local users = c .. 'code:' .. cid .. ':users'
  if redis.call('SREM', users, id) == 1 and redis.call('SCARD', users) == 0 then redis.call('DEL', c .. 'code:' .. cid) end
  redis.call('DEL', c .. 'project:' .. id .. ':open:v' .. versions[i])
end
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('DEL', c .. 'schedule:' .. sid, c .. 'schedule:' .. sid .. ':refusals')
  redis.call('SREM', KEYS[9], sid)
end
local hash = redis.call('GET', KEYS[5])
if hash then redis.call('DEL', c .. 'apikey:' .. hash) end
local chainId = redis.call('HGET', KEYS[11], id)
if chainId then
  if redis.call('HGET', KEYS[10], chainId) == id then redis.call('HDEL', KEYS[10], chainId) end
  redis.call('HDEL', KEYS[11], id)
end
redis.call('ZREM', KEYS[7], id)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8])
return 'deleted'
`);

/** What deleteProject did: deleted it, found none, or found requests of it not yet final. */
export type DeleteProjectResult = 'deleted' | 'not_found' | 'in_use';

/** Project records and API key hashes (API keys themselves are never stored). */
export interface ProjectStore {
  /** Stores a new project with version 1 of its code and the hash of its API key. */
  putProject(project: Project, code: string, apiKeyHash: string, createdAtMs: number): Promise<void>;
  getProject(id: string): Promise<Project | null>;
  /** The project id an API key hash belongs to. */
  getProjectIdByKeyHash(apiKeyHash: string): Promise<string | null>;
  /** Newest first; the cursor is the creation time (ms) of the previous page's last project. */
  listProjects(limit: number, cursor?: string): Promise<Page<Project>>;
  /** Makes `apiKeyHash` the project's only API key (the old one stops at once); false when there is no such project. */
  rotateApiKey(projectId: string, apiKeyHash: string): Promise<boolean>;
  /** Deletes the project and everything it owns, unless a request of it is still open (`in_use`). */
  deleteProject(projectId: string): Promise<DeleteProjectResult>;
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
        .set(keys.projectApiKey(project.id), apiKeyHash)
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

    async rotateApiKey(projectId, apiKeyHash) {
      return (await ROTATE_API_KEY(redis, [keys.projectApiKey(projectId), keys.project(projectId)], [apiKeyHash, projectId, keys.apiKey('')])) === 1;
    },

    async deleteProject(projectId) {
      return DELETE_PROJECT(redis, [
        keys.project(projectId), keys.projectVersions(projectId), keys.projectSecrets(projectId), keys.projectSchedules(projectId), keys.projectApiKey(projectId),
        keys.projectOpen(projectId), keys.projects, keys.projectRequests(projectId), keys.schedules, keys.chainBindings, keys.chainBindingOf,
      ], [projectId, keys.project('').slice(0, -'project:'.length)]) as Promise<DeleteProjectResult>;
    },
  };
}
