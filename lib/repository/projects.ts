// Projects, their code versions (content-addressed blobs), API key hashes, sealed secrets and schedules.
import type { Redis } from 'ioredis';
import { openSecret, sealSecret } from '../crypto/secret-box.ts';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { CodeVersion, Page, Project, Schedule, ScheduleRefusals } from './types.ts';

// KEYS: project, versions, code blob, code users. ARGV: code version JSON, cid, code, most versions, project id.
// Bumps the version atomically. The latest code again is that version (no new one); past the most
// stored versions nothing is written, not even the blob.
const ADD_VERSION = createScript(`
local doc = redis.call('GET', KEYS[1])
if not doc then return {'missing'} end
local project = cjson.decode(doc)
if project.codeCid == ARGV[2] then return {'existing', redis.call('HGET', KEYS[2], tostring(project.version))} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full'} end
local version = project.version + 1
project.version = version
project.codeCid = ARGV[2]
local entry = cjson.decode(ARGV[1])
entry.version = version
redis.call('SET', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('SET', KEYS[1], cjson.encode(project))
redis.call('HSET', KEYS[2], version, cjson.encode(entry))
return {'added', cjson.encode(entry)}
`);

// KEYS: project, versions, code users, code blob, open counts. ARGV: version, project id, cid.
// Removes an old version no open request runs; the blob goes when no version of any project uses it.
const DELETE_VERSION = createScript(`
local doc = redis.call('GET', KEYS[1])
if not doc then return 'not_found' end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry or cjson.decode(entry).codeCid ~= ARGV[3] then return 'not_found' end
if tonumber(ARGV[1]) == cjson.decode(doc).version then return 'latest' end
if tonumber(redis.call('HGET', KEYS[5], ARGV[2] .. '.v' .. ARGV[1]) or '0') > 0 then return 'in_use' end
redis.call('HDEL', KEYS[2], ARGV[1])
for _, other in ipairs(redis.call('HVALS', KEYS[2])) do
  if cjson.decode(other).codeCid == ARGV[3] then return 'deleted' end
end
-- Only a blob whose users are known goes: one stored before users were counted may serve others.
if redis.call('SREM', KEYS[3], ARGV[2]) == 1 and redis.call('SCARD', KEYS[3]) == 0 then redis.call('DEL', KEYS[4]) end
return 'deleted'
`);

// KEYS: schedule, project schedules, all schedules. ARGV: schedule JSON, id, most schedules of the project.
const ADD_SCHEDULE = createScript(`
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
`);

/** What putCodeVersion did: added a version, found the same code as the latest, or found the project at its version cap. */
export type PutCodeVersionResult = { outcome: 'added' | 'existing'; version: CodeVersion } | { outcome: 'full' } | { outcome: 'missing' };

/** What deleteCodeVersion did. */
export type DeleteCodeVersionResult = 'deleted' | 'not_found' | 'latest' | 'in_use';

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
        .sadd(keys.codeUsers(project.codeCid), project.id)
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

    /** Adds a code version unless it is the latest code again or the project holds `maxVersions`; older versions stay runnable. */
    async putCodeVersion(projectId: string, codeCid: string, code: string, createdAt: string, maxVersions: number): Promise<PutCodeVersionResult> {
      const [outcome, entry] = (await ADD_VERSION(
        redis,
        [keys.project(projectId), keys.projectVersions(projectId), keys.code(codeCid), keys.codeUsers(codeCid)],
        [JSON.stringify({ codeCid, createdAt }), codeCid, code, maxVersions, projectId],
      )) as [string, string?];
      if (outcome === 'added' || outcome === 'existing') return { outcome, version: JSON.parse(entry!) as CodeVersion };
      return outcome === 'full' ? { outcome: 'full' } : { outcome: 'missing' };
    },

    /** Deletes an old code version that no open request runs (never the latest). */
    async deleteCodeVersion(projectId: string, version: number): Promise<DeleteCodeVersionResult> {
      const doc = await redis.hget(keys.projectVersions(projectId), String(version));
      if (!doc) return 'not_found';
      const { codeCid } = JSON.parse(doc) as CodeVersion;
      return (await DELETE_VERSION(
        redis,
        [keys.project(projectId), keys.projectVersions(projectId), keys.codeUsers(codeCid), keys.code(codeCid), keys.openRequests],
        [version, projectId, codeCid],
      )) as DeleteCodeVersionResult;
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

    /** Stores a schedule unless its project already has `maxSchedules`; false when refused. */
    async putSchedule(schedule: Schedule, maxSchedules: number): Promise<boolean> {
      const added = await ADD_SCHEDULE(redis, [keys.schedule(schedule.id), keys.projectSchedules(schedule.projectId), keys.schedules], [JSON.stringify(schedule), schedule.id, maxSchedules]);
      return added === 1;
    },

    /** Counts a tick that admission refused, on the schedule itself (what the schedule list shows). */
    async recordRefusedTick(scheduleId: string, atMs: number, reason: string): Promise<void> {
      await redis.multi()
        .hincrby(keys.scheduleRefusals(scheduleId), 'count', 1)
        .hset(keys.scheduleRefusals(scheduleId), 'lastAt', new Date(atMs).toISOString(), 'lastReason', reason)
        .exec();
    },

    /** Ticks refused so far, and the last refusal. */
    async getRefusedTicks(scheduleId: string): Promise<ScheduleRefusals> {
      const stats = await redis.hgetall(keys.scheduleRefusals(scheduleId));
      return { refusedTicks: Number(stats.count ?? 0), ...(stats.lastAt ? { lastRefusal: { at: stats.lastAt, reason: stats.lastReason ?? '' } } : {}) };
    },

    async getSchedule(id: string): Promise<Schedule | null> {
      const doc = await redis.get(keys.schedule(id));
      return doc ? (JSON.parse(doc) as Schedule) : null;
    },

    async deleteSchedule(schedule: Schedule): Promise<void> {
      await redis.multi()
        .del(keys.schedule(schedule.id))
        .del(keys.scheduleRefusals(schedule.id))
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
