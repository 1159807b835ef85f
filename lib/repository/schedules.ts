// Cron schedules of projects, and the ticks of each that admission refused.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';
import { createScript } from './script.ts';
import type { Schedule, ScheduleRefusals } from './types.ts';

// KEYS: schedule, project schedules, all schedules. ARGV: schedule JSON, id, most schedules of the project.
// The same schedule again (re-sent after a lost reply: ids are fresh per call) is stored already: 1.
const ADD_SCHEDULE = createScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
`);

// KEYS: the schedule's refusals. ARGV: the tick's time (ISO), reason. Counts each tick once: the same
// refusal re-sent after a lost reply finds its tick as the last one and adds nothing.
const RECORD_REFUSED_TICK = createScript(`
if redis.call('HGET', KEYS[1], 'lastAt') == ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'lastAt', ARGV[1], 'lastReason', ARGV[2])
return 1
`);

/** Schedules by id, per project and overall, with their refused-tick counts. */
export interface ScheduleStore {
  /** Stores a schedule unless its project already has `maxSchedules`; false when refused. */
  putSchedule(schedule: Schedule, maxSchedules: number): Promise<boolean>;
  /** Counts a tick that admission refused, on the schedule itself (what the schedule list shows); once per tick (`atMs`). */
  recordRefusedTick(scheduleId: string, atMs: number, reason: string): Promise<void>;
  /** Ticks refused so far, and the last refusal. */
  getRefusedTicks(scheduleId: string): Promise<ScheduleRefusals>;
  getSchedule(id: string): Promise<Schedule | null>;
  /** Deletes the schedule and its refusal counts. */
  deleteSchedule(schedule: Schedule): Promise<void>;
  /** The project's schedules, or every schedule without a project id; sorted by id. */
  listSchedules(projectId?: string): Promise<Schedule[]>;
}

/** The schedule store over the shared connection. */
export function createScheduleStore(redis: Redis, keys: Keys): ScheduleStore {
  return {
    async putSchedule(schedule, maxSchedules) {
      const added = await ADD_SCHEDULE(redis, [keys.schedule(schedule.id), keys.projectSchedules(schedule.projectId), keys.schedules], [JSON.stringify(schedule), schedule.id, maxSchedules]);
      return added === 1;
    },

    async recordRefusedTick(scheduleId, atMs, reason) {
      await RECORD_REFUSED_TICK(redis, [keys.scheduleRefusals(scheduleId)], [new Date(atMs).toISOString(), reason]);
    },

    async getRefusedTicks(scheduleId) {
      const stats = await redis.hgetall(keys.scheduleRefusals(scheduleId));
      return { refusedTicks: Number(stats.count ?? 0), ...(stats.lastAt ? { lastRefusal: { at: stats.lastAt, reason: stats.lastReason ?? '' } } : {}) };
    },

    async getSchedule(id) {
      const doc = await redis.get(keys.schedule(id));
      return doc ? (JSON.parse(doc) as Schedule) : null;
    },

    async deleteSchedule(schedule) {
      await redis.multi()
        .del(keys.schedule(schedule.id))
        .del(keys.scheduleRefusals(schedule.id))
        .srem(keys.projectSchedules(schedule.projectId), schedule.id)
        .srem(keys.schedules, schedule.id)
        .exec();
    },

    async listSchedules(projectId) {
      const ids = await redis.smembers(projectId ? keys.projectSchedules(projectId) : keys.schedules);
      if (ids.length === 0) return [];
      const docs = await redis.mget(ids.map(keys.schedule));
      return docs.filter((d): d is string => d !== null).map((d) => JSON.parse(d) as Schedule).sort((a, b) => a.id.localeCompare(b.id));
    },
  };
}
