// Projects, their code versions (content-addressed blobs), API key hashes, sealed secrets and schedules.
import type { Redis } from 'ioredis';
import { openSecret, sealSecret } from '../crypto/secret-box.ts';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { CodeVersion, Page, Project, Schedule } from './types.ts';

// KEYS: project, versions. ARGV: code version JSON, cid. Bumps the version atomically.
const ADD_VERSION = createScript(`
local doc = redis.call('GET', KEYS[1])
if not doc then return '' end
local project = cjson.decode(doc)
local version = project.version + 1
project.version = version
project.codeCid = ARGV[2]
local entry = cjson.decode(ARGV[1])
entry.version = version
redis.call('SET', KEYS[1], cjson.encode(project))
redis.call('HSET', KEYS[2], version, cjson.encode(entry))
return cjson.encode(entry)
`);

export function createProjectRepository(redis: Redis, keys: Keys, masterKey: Uint8Array | undefined) {
  const requireMasterKey = (): Uint8Array => {
    if (!masterKey) throw new Error('GATEWAY_MASTER_KEY is required to read or write project secrets');
    return masterKey;
  };

  return {
    /** Stores a new project with version 1 of its code and the hash of its API key. */
    async putProject(project: Project, code: string, apiKeyHash: string, createdAtMs: number): Promise<void> {
      const version: CodeVersion = { version: 1, codeCid: project.codeCid, createdAt: project.createdAt };
      await redis.multi()
        .set(keys.code(project.codeCid), code)
        .set(keys.project(project.id), JSON.stringify(project))
        .hset(keys.projectVersions(project.id), '1', JSON.stringify(version))
        .set(keys.apiKey(apiKeyHash), project.id)
        .zadd(keys.projects, createdAtMs, project.id)
        .exec();
    },

    async getProject(id: string): Promise<Project | null> {
      const doc = await redis.get(keys.project(id));
      return doc ? (JSON.parse(doc) as Project) : null;
    },

    /** The project id an API key hash belongs to. */
    getProjectIdByKeyHash: (apiKeyHash: string): Promise<string | null> => redis.get(keys.apiKey(apiKeyHash)),

    /** Adds a code version; older versions stay runnable. Null when the project does not exist. */
    async putCodeVersion(projectId: string, codeCid: string, code: string, createdAt: string): Promise<CodeVersion | null> {
      await redis.set(keys.code(codeCid), code);
      const reply = (await ADD_VERSION(redis, [keys.project(projectId), keys.projectVersions(projectId)], [JSON.stringify({ codeCid, createdAt }), codeCid])) as string;
      return reply ? (JSON.parse(reply) as CodeVersion) : null;
    },

    async listCodeVersions(projectId: string): Promise<CodeVersion[]> {
      const all = await redis.hvals(keys.projectVersions(projectId));
      return all.map((v) => JSON.parse(v) as CodeVersion).sort((a, b) => a.version - b.version);
    },

    async getCodeVersion(projectId: string, version: number): Promise<CodeVersion | null> {
      const doc = await redis.hget(keys.projectVersions(projectId), String(version));
      return doc ? (JSON.parse(doc) as CodeVersion) : null;
    },

    getCode: (cid: string): Promise<string | null> => redis.get(keys.code(cid)),

    async listProjects(limit: number, cursor?: string): Promise<Page<Project>> {
      const max = cursor ? `(${cursor}` : '+inf';
      const ids = await redis.zrevrangebyscore(keys.projects, max, '-inf', 'LIMIT', 0, limit + 1);
      const docs = ids.length ? await redis.mget(ids.slice(0, limit).map(keys.project)) : [];
      const items = docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d) as Project);
      const last = items[items.length - 1];
      return { items, nextCursor: ids.length > limit && last ? String(Date.parse(last.createdAt)) : null };
    },

    /** Replaces the project's secrets, each sealed under the master key. */
    async putSecrets(projectId: string, secrets: Record<string, string>): Promise<void> {
      const key = requireMasterKey();
      const sealed = Object.entries(secrets).flatMap(([name, value]) => [name, sealSecret(key, projectId, name, value)]);
      const tx = redis.multi().del(keys.projectSecrets(projectId));
      if (sealed.length > 0) tx.hset(keys.projectSecrets(projectId), ...sealed);
      await tx.exec();
    },

    async listSecretNames(projectId: string): Promise<string[]> {
      return (await redis.hkeys(keys.projectSecrets(projectId))).sort();
    },

    /** Opens every secret of the project (executors only). */
    async getSecrets(projectId: string): Promise<Record<string, string>> {
      const sealed = await redis.hgetall(keys.projectSecrets(projectId));
      const entries = Object.entries(sealed);
      if (entries.length === 0) return {};
      const key = requireMasterKey();
      return Object.fromEntries(entries.map(([name, box]) => [name, openSecret(key, projectId, name, box)]));
    },

    async putSchedule(schedule: Schedule): Promise<void> {
      await redis.multi()
        .set(keys.schedule(schedule.id), JSON.stringify(schedule))
        .sadd(keys.projectSchedules(schedule.projectId), schedule.id)
        .sadd(keys.schedules, schedule.id)
        .exec();
    },

    async getSchedule(id: string): Promise<Schedule | null> {
      const doc = await redis.get(keys.schedule(id));
      return doc ? (JSON.parse(doc) as Schedule) : null;
    },

    async deleteSchedule(schedule: Schedule): Promise<void> {
      await redis.multi()
        .del(keys.schedule(schedule.id))
        .srem(keys.projectSchedules(schedule.projectId), schedule.id)
        .srem(keys.schedules, schedule.id)
        .exec();
    },

    async listSchedules(projectId?: string): Promise<Schedule[]> {
      const ids = await redis.smembers(projectId ? keys.projectSchedules(projectId) : keys.schedules);
      if (ids.length === 0) return [];
      const docs = await redis.mget(ids.map(keys.schedule));
      return docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d) as Schedule).sort((a, b) => a.id.localeCompare(b.id));
    },
  };
}

export type ProjectRepository = ReturnType<typeof createProjectRepository>;
