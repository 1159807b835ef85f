// Cron expressions: a strict, bounded parser (a subset of node-cron 4's grammar) and a bounded next-run search.
import { GatewayError } from './errors.ts';

/** A parsed cron expression: every field as the sorted list of values it allows. */
export type CronSchedule = {
  /** The expression with its ends trimmed and whitespace runs collapsed to one space (5 or 6 fields, as given). */
  readonly expression: string;
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: readonly number[];
  readonly months: readonly number[];
  /** 0-6, 0 = Sunday (a written 7 is folded into 0). */
  readonly daysOfWeek: readonly number[];
  /** False when the field allows every day (`*`, `1-31`, a step of 1); informational, since node-cron ANDs the two fields. */
  readonly isDayOfMonthRestricted: boolean;
  readonly isDayOfWeekRestricted: boolean;
};

/** Filled in by `computeNextRun` when passed: how many days the search looked at. */
export type CronSearchStats = { daysScanned: number };

/** The longest expression accepted, in characters. */
export const MAX_CRON_LENGTH = 120;
/** The most comma-separated items in one field. */
export const MAX_CRON_LIST_ITEMS = 16;
/** How many days `computeNextRun` looks ahead, counting the day of `fromMs`, before it answers null. */
export const CRON_SEARCH_DAYS = 5 * 366;

type FieldSpec = { readonly label: string; readonly min: number; readonly max: number; readonly names?: readonly string[] };

const MONTH_NAMES = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
// node-cron's own table (validateFields in node_modules/node-cron/dist/node-cron.js): February counts 29.
const MONTH_MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const FIELDS = [
  { label: 'second', min: 0, max: 59 },
  { label: 'minute', min: 0, max: 59 },
  { label: 'hour', min: 0, max: 23 },
  { label: 'day-of-month', min: 1, max: 31 },
  { label: 'month', min: 1, max: 12, names: MONTH_NAMES },
  { label: 'day-of-week', min: 0, max: 7, names: DAY_NAMES },
] as const satisfies readonly FieldSpec[];
const DAY_OF_WEEK: FieldSpec = FIELDS[5];

const ITEM_FORMS = '*, N, N-M, */S or N-M/S';
// The item shapes node-cron 4 accepts: `*` and `N-M` (optionally /S) are expanded by convertAsterisksToRanges and
// convertRanges in node_modules/node-cron/dist/_shared.js; anything else must be a bare number.
const ITEM = /^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:\/([0-9a-z]+))?$/i;

function refuse(reason: string): never {
  throw new GatewayError('invalid_body', `cron: ${reason}`, { details: [`cron: ${reason}`] });
}

function parseNumber(token: string, field: FieldSpec, what: string): number {
  if (/^[0-9]+$/.test(token)) {
    if (token.length > 2) refuse(`${field.label} ${what} "${token}" has more than 2 digits`);
    return Number(token);
  }
  const lower = token.toLowerCase();
  const index = field.names?.findIndex((name) => name === lower || name.slice(0, 3) === lower) ?? -1;
  if (index < 0) refuse(`${field.label} ${what} "${token}" is not a number${field.names ? ' or a known name' : ''}`);
  return index + field.min;
}

function parseValue(token: string, field: FieldSpec): number {
  const value = parseNumber(token, field, 'value');
  if (value < field.min || value > field.max) refuse(`${field.label} value ${token} is outside ${field.min}-${field.max}`);
  return value;
}

/** Adds the values of one list item to `allowed` (indexed by value). */
function addItem(item: string, field: FieldSpec, allowed: boolean[]): void {
  const match = ITEM.exec(item);
  if (!match) refuse(`${field.label} item "${item}" is not one of ${ITEM_FORMS}`);
  const [, star, startText, endText, stepText] = match;
  if (startText !== undefined && endText === undefined && stepText !== undefined) {
    refuse(`${field.label} item "${item}" is N/S, which node-cron does not accept; write ${startText}-${field.max}/${stepText}`);
  }
  // node-cron expands `*` in day-of-week to 0-6: 7 (Sunday again) only comes from a written 7, as in `fri-7`.
  const rangeMax = field === DAY_OF_WEEK ? 6 : field.max;
  const start = star ? field.min : parseValue(startText!, field);
  const end = star ? rangeMax : endText === undefined ? start : parseValue(endText, field);
  if (start > end) refuse(`${field.label} range ${startText}-${endText} is reversed (start must be ≤ end)`);
  let step = 1;
  if (stepText !== undefined) {
    step = parseNumber(stepText, { label: field.label, min: 1, max: field.max }, 'step');
    if (step < 1 || step > field.max) refuse(`${field.label} step ${stepText} is outside 1-${field.max}`);
  }
  for (let value = start; value <= end; value += step) allowed[field === DAY_OF_WEEK ? value % 7 : value] = true;
}

function parseField(text: string, field: FieldSpec): number[] {
  const items = text.split(',');
  if (items.length > MAX_CRON_LIST_ITEMS) refuse(`${field.label} has ${items.length} items; at most ${MAX_CRON_LIST_ITEMS} are allowed`);
  const allowed: boolean[] = [];
  for (const item of items) addItem(item, field, allowed);
  const values: number[] = [];
  allowed.forEach((isAllowed, value) => isAllowed && values.push(value));
  return values;
}

/**
 * Parses a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (a leading second),
 * accepting only what node-cron 4 accepts and refusing, more strictly, reversed ranges, steps outside
 * 1..field max, numbers of more than 2 digits, lists of more than 16 items and macros such as `@daily`.
 * Bounded work: at most 120 characters are looked at.
 * @throws GatewayError `invalid_body` with one detail `cron: <reason>`.
 */
export function parseCronExpression(text: string): CronSchedule {
  if (typeof text !== 'string') refuse('expression must be a string');
  if (text.length > MAX_CRON_LENGTH) refuse(`expression is longer than ${MAX_CRON_LENGTH} characters`);
  const trimmed = text.replace(/^[ \t]+|[ \t]+$/g, '');
  if (trimmed === '') refuse('expression is empty');
  if (trimmed.startsWith('@')) refuse('macros such as @daily are not supported; write the fields out (e.g. 0 0 * * *)');
  const bad = /[^0-9a-zA-Z*,\-/ \t]/.exec(trimmed);
  if (bad) refuse(`character ${JSON.stringify(bad[0])} is not allowed (use digits, names, spaces and * , - /)`);
  const texts = trimmed.split(/[ \t]+/);
  if (texts.length !== 5 && texts.length !== 6) refuse(`expected 5 or 6 fields, got ${texts.length}`);
  const fields = texts.length === 5 ? ['0', ...texts] : texts;
  const [seconds, minutes, hours, daysOfMonth, months, daysOfWeek] = FIELDS.map((spec, i) => parseField(fields[i]!, spec)) as [
    number[], number[], number[], number[], number[], number[],
  ];
  // node-cron refuses a day of month that no chosen month has (isImpossibleDayOfMonth in node-cron.js).
  if (daysOfMonth[0]! > Math.max(...months.map((month) => MONTH_MAX_DAYS[month]!))) {
    refuse(`day-of-month ${fields[3]} never occurs in month ${fields[4]}`);
  }
  return {
    expression: texts.join(' '),
    seconds, minutes, hours, daysOfMonth, months, daysOfWeek,
    isDayOfMonthRestricted: daysOfMonth.length < 31,
    isDayOfWeekRestricted: daysOfWeek.length < 7,
  };
}

function toMask(values: readonly number[]): number {
  let mask = 0;
  for (const value of values) mask |= 1 << value;
  return mask;
}

/** Month (1-12) and day of month of a day counted from 1970-01-01 (proleptic Gregorian; H. Hinnant's civil_from_days). */
function civilFromDays(days: number): { month: number; dayOfMonth: number } {
  const z = days + 719_468;
  const dayOfEra = z - Math.floor(z / 146_097) * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  return { month: monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9, dayOfMonth: dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1 };
}

/** The first allowed second of a day at or after `fromSecond` (seconds since midnight), or null. */
function firstTimeOfDay(schedule: CronSchedule, fromSecond: number): number | null {
  for (const hour of schedule.hours) {
    if ((hour + 1) * 3600 <= fromSecond) continue;
    for (const minute of schedule.minutes) {
      const base = hour * 3600 + minute * 60;
      if (base + 60 <= fromSecond) continue;
      for (const second of schedule.seconds) if (base + second >= fromSecond) return base + second;
    }
  }
  return null;
}

/**
 * The first whole second (Unix ms, UTC) strictly after `fromMs` at which `schedule` fires, or null when it does not
 * fire within `CRON_SEARCH_DAYS` days. A day matches when its month, day of month AND day of week are all allowed:
 * node-cron 4 ANDs day-of-month with day-of-week (TimeMatcher.match and MatcherWalker.matchNext in
 * node_modules/node-cron/dist/_shared.js), unlike vixie cron's OR. Walks days, never seconds.
 * @throws RangeError when `fromMs` is not finite.
 */
export function computeNextRun(schedule: CronSchedule, fromMs: number, stats?: CronSearchStats): number | null {
  if (!Number.isFinite(fromMs)) throw new RangeError('fromMs must be a finite number');
  const monthMask = toMask(schedule.months);
  const dayOfMonthMask = toMask(schedule.daysOfMonth);
  const dayOfWeekMask = toMask(schedule.daysOfWeek);
  const firstSecond = Math.floor(fromMs / 1000) + 1;
  const firstDay = Math.floor(firstSecond / 86_400);
  let daysScanned = 0;
  let found: number | null = null;
  for (let day = firstDay; day < firstDay + CRON_SEARCH_DAYS && found === null; day++) {
    daysScanned++;
    const { month, dayOfMonth } = civilFromDays(day);
    const isMatchingDay = (monthMask & (1 << month)) !== 0
      && (dayOfMonthMask & (1 << dayOfMonth)) !== 0
      && (dayOfWeekMask & (1 << (((day + 4) % 7) + 7) % 7)) !== 0; // 1970-01-01 was a Thursday (4)
    if (!isMatchingDay) continue;
    const time = firstTimeOfDay(schedule, day === firstDay ? firstSecond - firstDay * 86_400 : 0);
    if (time !== null) found = (day * 86_400 + time) * 1000;
  }
  if (stats) stats.daysScanned = daysScanned;
  return found;
}

/**
 * `computeNextRun` with the fields read in an IANA time zone (as node-cron's `timezone` option
 * does): the next wall-clock match after `fromMs`, as Unix ms. Around a daylight-saving change the
 * answer is the wall time under the offset in force then; a wall time the change skips is reported
 * an hour off, and node-cron decides what really fires. UTC without a zone.
 */
export function computeNextRunIn(schedule: CronSchedule, fromMs: number, timeZone?: string): number | null {
  if (!timeZone || timeZone === 'UTC') return computeNextRun(schedule, fromMs);
  const wallNext = computeNextRun(schedule, fromMs + zoneOffsetMs(timeZone, fromMs));
  if (wallNext === null) return null;
  let utc = wallNext - zoneOffsetMs(timeZone, fromMs);
  utc = wallNext - zoneOffsetMs(timeZone, utc);
  return utc;
}

/** How far the zone's wall clock is ahead of UTC at `atMs` (ms; negative west of Greenwich). */
export function zoneOffsetMs(timeZone: string, atMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  }).formatToParts(new Date(atMs));
  const field = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(field('year'), field('month') - 1, field('day'), field('hour'), field('minute'), field('second'));
  return wall - Math.floor(atMs / 1000) * 1000;
}
