// Code: each project's code versions and the content-addressed blobs they point at (a blob goes
// with the last version of any project that uses it).
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { CodeVersion } from './types.ts';

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

// KEYS: project, versions, code users, code blob, the version's open requests. ARGV: version, project id, cid.
// Removes an old version no open request runs; the blob goes when no version of any project uses it.
const DELETE_VERSION = createScript(`
local doc = redis.call('GET', KEYS[1])
if not doc then return 'not_found' end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry or cjson.decode(entry).codeCid ~= ARGV[3] then return 'not_found' end
if tonumber(ARGV[1]) == cjson.decode(doc).version then return 'latest' end
if redis.call('ZCARD', KEYS[5]) > 0 then return 'in_use' end
redis.call('HDEL', KEYS[2], ARGV[1])
for _, other in ipairs(redis.call('HVALS', KEYS[2])) do
  if cjson.decode(other).codeCid == ARGV[3] then return 'deleted' end
end
-- Only a blob whose users are known goes: one stored before users were counted may serve others.
if redis.call('SREM', KEYS[3], ARGV[2]) == 1 and redis.call('SCARD', KEYS[3]) == 0 then redis.call('DEL', KEYS[4]) end
return 'deleted'
`);

/** What putCodeVersion did: added a version, found the same code as the latest, or found the project at its version cap. */
export type PutCodeVersionResult = { outcome: 'added' | 'existing'; version: CodeVersion } | { outcome: 'full' } | { outcome: 'missing' };

/** What deleteCodeVersion did. */
export type DeleteCodeVersionResult = 'deleted' | 'not_found' | 'latest' | 'in_use';

/** Code versions per project and the blobs by content id (version 1 is written by putProject). */
export interface CodeStore {
  /** Adds a code version unless it is the latest code again or the project holds `maxVersions`; older versions stay runnable. */
  putCodeVersion(projectId: string, codeCid: string, code: string, createdAt: string, maxVersions: number): Promise<PutCodeVersionResult>;
  /** Deletes an old code version that no open request runs (never the latest). */
  deleteCodeVersion(projectId: string, version: number): Promise<DeleteCodeVersionResult>;
  /** Every stored version, oldest first. */
  listCodeVersions(projectId: string): Promise<CodeVersion[]>;
  getCodeVersion(projectId: string, version: number): Promise<CodeVersion | null>;
  /** The code blob with this content id. */
  getCode(cid: string): Promise<string | null>;
}

/** The code store over the shared connection. */
export function createCodeStore(redis: Redis, keys: Keys): CodeStore {
  return {
    async putCodeVersion(projectId, codeCid, code, createdAt, maxVersions) {
      const [outcome, entry] = (await ADD_VERSION(
        redis,
        [keys.project(projectId), keys.projectVersions(projectId), keys.code(codeCid), keys.codeUsers(codeCid)],
        [JSON.stringify({ codeCid, createdAt }), codeCid, code, maxVersions, projectId],
      )) as [string, string?];
      if (outcome === 'added' || outcome === 'existing') return { outcome, version: JSON.parse(entry!) as CodeVersion };
      return outcome === 'full' ? { outcome: 'full' } : { outcome: 'missing' };
    },

    async deleteCodeVersion(projectId, version) {
      const doc = await redis.hget(keys.projectVersions(projectId), String(version));
      if (!doc) return 'not_found';
      const { codeCid } = JSON.parse(doc) as CodeVersion;
      return (await DELETE_VERSION(
        redis,
        [keys.project(projectId), keys.projectVersions(projectId), keys.codeUsers(codeCid), keys.code(codeCid), keys.versionOpen(projectId, version)],
        [version, projectId, codeCid],
      )) as DeleteCodeVersionResult;
    },

    async listCodeVersions(projectId) {
      const all = await redis.hvals(keys.projectVersions(projectId));
      return all.map((v) => JSON.parse(v) as CodeVersion).sort((a, b) => a.version - b.version);
    },

    async getCodeVersion(projectId, version) {
      const doc = await redis.hget(keys.projectVersions(projectId), String(version));
      return doc ? (JSON.parse(doc) as CodeVersion) : null;
    },

    getCode: (cid) => redis.get(keys.code(cid)),
  };

}
