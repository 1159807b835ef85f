// The cron parser and next-run search: valid and refused expressions, node-cron agreement, and bounded work.
import { expect } from 'chai';
import cron from 'node-cron';
import { GatewayError } from '../../lib/errors.ts';
import { CRON_SEARCH_DAYS, computeNextRun, computeNextRunIn, parseCronExpression, zoneOffsetMs, type CronSchedule, type CronSearchStats } from '../../lib/cron-expression.ts';

const FROM_MS = Date.UTC(2025, 0, 15, 10, 30, 15, 500); // Wednesday 2025-01-15 10:30:15.500Z
const at = (iso: string): number => Date.parse(iso);

// [expression, next run as ISO or null, optional fromMs]
const NEXT_RUNS: readonly (readonly [string, string | null, number?])[] = [
  ['* * * * *', '2025-01-15T10:31:00Z'],
  ['* * * * * *', '2025-01-15T10:30:16Z'],
  ['*/20 * * * * *', '2025-01-15T10:30:20Z'],
  ['15 30 10 * * *', '2025-01-16T10:30:15Z'],
  ['16 30 10 * * *', '2025-01-15T10:30:16Z'],
  ['30 10 * * *', '2025-01-16T10:30:00Z'],
  ['0 12 * * *', '2025-01-15T12:00:00Z'],
  ['5 4 * * *', '2025-01-16T04:05:00Z'],
  ['0,30 */6 * * *', '2025-01-15T12:00:00Z'],
  ['10-20/5 8-17 * * *', '2025-01-15T11:10:00Z'],
  ['0 0 1 * *', '2025-02-01T00:00:00Z'],
  ['0 0 */10 * *', '2025-01-21T00:00:00Z'],
  ['0 0 31 * *', '2025-01-31T00:00:00Z'],
  ['0 0 31 4,5 *', '2025-05-31T00:00:00Z'],
  ['0 0 * */3 *', '2025-01-16T00:00:00Z'],
  ['0 0 * jun *', '2025-06-01T00:00:00Z'],
  ['0 0 1 JAN *', '2026-01-01T00:00:00Z'],
  ['0 0 1 mar-May/2 *', '2025-03-01T00:00:00Z'],
  ['0 0 * * 0', '2025-01-19T00:00:00Z'],
  ['0 0 * * 7', '2025-01-19T00:00:00Z'],
  ['0 0 * * Sun', '2025-01-19T00:00:00Z'],
  ['0 0 * * sunday', '2025-01-19T00:00:00Z'],
  ['0 0 * * mon-fri', '2025-01-16T00:00:00Z'],
  ['0 0 * * 6-7', '2025-01-18T00:00:00Z'],
  ['0 0 * * 1,3', '2025-01-20T00:00:00Z'],
  ['0 0 13 * fri', '2025-06-13T00:00:00Z'], // day-of-month AND day-of-week (node-cron), not the 17th (vixie OR)
  ['59 59 23 31 12 *', '2025-12-31T23:59:59Z'],
  ['0 0 29 2 *', '2028-02-29T00:00:00Z'],
  ['0 0 29 2 2', '2028-02-29T00:00:00Z'],
  ['0 0 29 2 1', null], // the next Monday 29 February is in 2044, past the five-year horizon
  ['0 0 1 1 *', '2026-01-01T00:00:00Z', at('2025-12-31T23:59:59.999Z')],
  ['0 0 1 1 *', '2026-01-01T00:00:00Z', at('2025-01-01T00:00:00Z')], // strictly after fromMs
  ['0 0 29 2 *', '2104-02-29T00:00:00Z', at('2099-12-31T00:00:00Z')], // 2100 is not a leap year
  ['0 0 29 2 *', null, at('2096-03-01T00:00:00Z')],
  ['  0   12\t*  *  *  ', '2025-01-15T12:00:00Z'],
];

// [expression, the one detail the refusal carries]
const REFUSALS: readonly (readonly [string, string])[] = [
  ['', 'cron: expression is empty'],
  ['  \t ', 'cron: expression is empty'],
  ['x'.repeat(200), 'cron: expression is longer than 120 characters'],
  [`${'0,'.repeat(60)}0 * * * *`, 'cron: expression is longer than 120 characters'],
  ['* * * *', 'cron: expected 5 or 6 fields, got 4'],
  ['* * * * * * *', 'cron: expected 5 or 6 fields, got 7'],
  ['every minute', 'cron: expected 5 or 6 fields, got 2'],
  ['60 * * * * *', 'cron: second value 60 is outside 0-59'],
  ['60 * * * *', 'cron: minute value 60 is outside 0-59'],
  ['* 24 * * *', 'cron: hour value 24 is outside 0-23'],
  ['* * 0 * *', 'cron: day-of-month value 0 is outside 1-31'],
  ['* * 32 * *', 'cron: day-of-month value 32 is outside 1-31'],
  ['* * * 0 *', 'cron: month value 0 is outside 1-12'],
  ['* * * 13 *', 'cron: month value 13 is outside 1-12'],
  ['* * * * 8', 'cron: day-of-week value 8 is outside 0-7'],
  ['50-60 * * * *', 'cron: minute value 60 is outside 0-59'],
  ['5-2 * * * *', 'cron: minute range 5-2 is reversed (start must be ≤ end)'],
  ['* * * * fri-mon', 'cron: day-of-week range fri-mon is reversed (start must be ≤ end)'],
  ['*/0 * * * *', 'cron: minute step 0 is outside 1-59'],
  ['0-30/00 * * * *', 'cron: minute step 00 is outside 1-59'],
  ['*/60 * * * *', 'cron: minute step 60 is outside 1-59'],
  ['* */24 * * *', 'cron: hour step 24 is outside 1-23'],
  ['* * */32 * *', 'cron: day-of-month step 32 is outside 1-31'],
  ['* * * */13 *', 'cron: month step 13 is outside 1-12'],
  ['* * * * */8', 'cron: day-of-week step 8 is outside 1-7'],
  ['*/100 * * * *', 'cron: minute step "100" has more than 2 digits'],
  ['* * * */jan *', 'cron: month step "jan" is not a number'],
  ['5/15 * * * *', 'cron: minute item "5/15" is N/S, which node-cron does not accept; write 5-59/15'],
  [`${Array.from({ length: 17 }, (_, i) => i).join(',')} * * * *`, 'cron: minute has 17 items; at most 16 are allowed'],
  ['100 * * * *', 'cron: minute value "100" has more than 2 digits'],
  ['0 0 001 * *', 'cron: day-of-month value "001" has more than 2 digits'],
  ['1,,2 * * * *', 'cron: minute item "" is not one of *, N, N-M, */S or N-M/S'],
  ['*-5 * * * *', 'cron: minute item "*-5" is not one of *, N, N-M, */S or N-M/S'],
  ['1-2-3 * * * *', 'cron: minute item "1-2-3" is not one of *, N, N-M, */S or N-M/S'],
  ['jan * * * *', 'cron: minute value "jan" is not a number'],
  ['* * * foo *', 'cron: month value "foo" is not a number or a known name'],
  ['* * * * mond', 'cron: day-of-week value "mond" is not a number or a known name'],
  ['0 0 L * *', 'cron: day-of-month value "L" is not a number'],
  ['0 0 15W * *', 'cron: day-of-month value "15W" is not a number'],
  ['0 0 * * 5L', 'cron: day-of-week value "5L" is not a number or a known name'],
  ['0 0 ? * *', 'cron: character "?" is not allowed (use digits, names, spaces and * , - /)'],
  ['0 0 * * 5#2', 'cron: character "#" is not allowed (use digits, names, spaces and * , - /)'],
  ['0 0 * * *\n', 'cron: character "\\n" is not allowed (use digits, names, spaces and * , - /)'],
  ['０ * * * *', 'cron: character "０" is not allowed (use digits, names, spaces and * , - /)'],
  ['* * * * * ; rm -rf /', 'cron: character ";" is not allowed (use digits, names, spaces and * , - /)'],
  ['@daily', 'cron: macros such as @daily are not supported; write the fields out (e.g. 0 0 * * *)'],
  ['0 0 30 2 *', 'cron: day-of-month 30 never occurs in month 2'],
  ['0 0 31 4,6,9,11 *', 'cron: day-of-month 31 never occurs in month 4,6,9,11'],
];

function refusalOf(expression: string): GatewayError {
  try {
    parseCronExpression(expression);
  } catch (error) {
    expect(error).to.be.instanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error(`expected ${JSON.stringify(expression)} to be refused`);
}

function nextRuns(schedule: CronSchedule, fromMs: number, count: number): (number | null)[] {
  const runs: (number | null)[] = [];
  for (let from: number | null = fromMs; runs.length < count; from = runs.at(-1) ?? null) runs.push(from === null ? null : computeNextRun(schedule, from));
  return runs;
}

/** node-cron's getNextRuns starts from `new Date()` and takes no start date, so the clock is fixed around the call. */
function withFixedNow<T>(nowMs: number, run: () => T): T {
  const RealDate = globalThis.Date;
  class FixedDate extends RealDate {
    constructor(...args: [] | [number]) {
      if (args.length === 0) super(nowMs);
      else super(args[0]);
    }
    static override now(): number {
      return nowMs;
    }
  }
  globalThis.Date = FixedDate as DateConstructor;
  try {
    return run();
  } finally {
    globalThis.Date = RealDate;
  }
}

/** A small seeded generator (mulberry32), so a failing expression can be reproduced. */
function createRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function randomField(random: (n: number) => number, min: number, max: number, names?: readonly string[]): string {
  const value = (): string => {
    const n = min + random(max - min + 1);
    return names && random(3) === 0 ? names[n - min]! : String(n);
  };
  const item = (): string => {
    const lo = min + random(max - min + 1);
    const hi = lo + random(max - lo + 1);
    const step = 1 + random(max);
    return [() => '*', value, () => `${lo}-${hi}`, () => `*/${step}`, () => `${lo}-${hi}/${step}`][random(5)]!();
  };
  return Array.from({ length: 1 + random(3) }, item).join(',');
}

describe('cron expressions', () => {
  for (const [expression, expected, fromMs = FROM_MS] of NEXT_RUNS) {
    it(`${JSON.stringify(expression)} fires next at ${expected ?? 'never (null)'} after ${new Date(fromMs).toISOString()}`, () => {
      const next = computeNextRun(parseCronExpression(expression), fromMs);
      expect(next === null ? null : new Date(next).toISOString()).to.equal(expected === null ? null : new Date(expected).toISOString());
    });
  }

  for (const [expression, detail] of REFUSALS) {
    it(`refuses ${JSON.stringify(expression.length > 40 ? `${expression.slice(0, 40)}…` : expression)}: ${detail}`, () => {
      const error = refusalOf(expression);
      expect(error.code).to.equal('invalid_body');
      expect(error.details).to.deep.equal([detail]);
      expect(error.message).to.equal(detail);
    });
  }

  it('parses every field into sorted values, folding 7 into Sunday and collapsing whitespace', () => {
    const schedule = parseCronExpression(' 0,30  5-7,1 */8 1-10/3,31 jan,JUL-sep/2 fri-7 ');
    expect(schedule).to.deep.equal({
      expression: '0,30 5-7,1 */8 1-10/3,31 jan,JUL-sep/2 fri-7',
      seconds: [0, 30], minutes: [1, 5, 6, 7], hours: [0, 8, 16], daysOfMonth: [1, 4, 7, 10, 31], months: [1, 7, 9],
      daysOfWeek: [0, 5, 6], isDayOfMonthRestricted: true, isDayOfWeekRestricted: true,
    });
    const everyDay = parseCronExpression('0 0 */1 * 0-7');
    expect([everyDay.seconds, everyDay.daysOfWeek.length, everyDay.isDayOfMonthRestricted, everyDay.isDayOfWeekRestricted]).to.deep.equal([[0], 7, false, false]);
  });

  it('walks real calendar days: every Monday for six years, and every first of the month across 2100', () => {
    const mondays = nextRuns(parseCronExpression('0 0 * * mon'), FROM_MS, 320) as number[];
    mondays.forEach((run, i) => {
      expect(new Date(run).getUTCDay()).to.equal(1);
      if (i > 0) expect(run - mondays[i - 1]!).to.equal(7 * 86_400_000);
    });
    const firsts = nextRuns(parseCronExpression('0 0 1 * *'), at('2098-12-31T12:00:00Z'), 36);
    expect(firsts).to.deep.equal(Array.from({ length: 36 }, (_, i) => Date.UTC(2099, i, 1)));
  });

  it('agrees with node-cron 4 on random valid expressions: accepted values and the next three runs', function () {
    this.timeout(60_000);
    const random = createRandom(20250115);
    const months = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
    const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    let compared = 0;
    for (let i = 0; i < 60; i++) {
      const fields = [randomField(random, 0, 23), randomField(random, 1, 31), randomField(random, 1, 12, months), randomField(random, 0, 7, days)];
      const expression = [...(random(2) ? [randomField(random, 0, 59)] : []), randomField(random, 0, 59), ...fields].join(' ');
      if (!cron.validate(expression)) {
        expect(refusalOf(expression).details![0], expression).to.match(/^cron: day-of-month .* never occurs in month/);
        continue;
      }
      const schedule = parseCronExpression(expression);
      const theirs = cron.parse(expression);
      const sorted = (values: readonly (number | string)[]): number[] => [...new Set(values as number[])].sort((a, b) => a - b);
      expect([schedule.seconds, schedule.minutes, schedule.hours, schedule.daysOfMonth, schedule.months, schedule.daysOfWeek], expression).to.deep.equal(
        [theirs.second, theirs.minute, theirs.hour, theirs.dayOfMonth, theirs.month, theirs.dayOfWeek].map(sorted),
      );
      const ours = nextRuns(schedule, FROM_MS, 3);
      const task = cron.createTask(schedule.expression, () => undefined);
      try {
        const theirRuns = withFixedNow(FROM_MS, () => task.getNextRuns(3).map((date) => date.getTime()));
        const horizonMs = FROM_MS + CRON_SEARCH_DAYS * 86_400_000;
        ours.forEach((run, k) => {
          if (run === null) expect(theirRuns[k]!, expression).to.be.greaterThan(horizonMs - 86_400_000);
          else expect(run, `${expression} run ${k + 1}`).to.equal(theirRuns[k]);
        });
        compared++;
      } finally {
        void task.destroy();
      }
    }
    expect(compared).to.be.greaterThan(30);
  });

  it('answers hostile expressions in bounded time and work', () => {
    const longList = Array.from({ length: 16 }, (_, i) => i * 3).join(',');
    const hostile = [
      '*/1 */1 */1 29 2 *', '0 0 0 31 2 *', '0 0 29 2 1', '59 59 23 29 2 1', '59 59 23 31 12 1-5', '0-59 0-59 0-23 1-31 1-12 0-7',
      `${longList} ${longList.slice(0, 40)} * 29 2`, '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 * * 29 feb mon', 'x'.repeat(200), `${'*/1 '.repeat(30)}`,
    ];
    for (const expression of hostile) {
      let worstMs = 0;
      for (let run = 0; run < 20; run++) {
        const stats: CronSearchStats = { daysScanned: 0 };
        const started = performance.now();
        try {
          computeNextRun(parseCronExpression(expression), FROM_MS, stats);
        } catch (error) {
          expect(error, expression).to.be.instanceOf(GatewayError);
        }
        worstMs = Math.max(worstMs, performance.now() - started);
        expect(stats.daysScanned, expression).to.be.at.most(CRON_SEARCH_DAYS);
      }
      expect(worstMs, expression).to.be.lessThan(50);
    }
    const stats: CronSearchStats = { daysScanned: 0 };
    expect(computeNextRun(parseCronExpression('0 0 29 2 1'), FROM_MS, stats)).to.equal(null);
    expect(stats.daysScanned).to.equal(CRON_SEARCH_DAYS);
  });

  it('refuses a fromMs that is not a finite number', () => {
    expect(() => computeNextRun(parseCronExpression('* * * * *'), Number.NaN)).to.throw(RangeError);
  });
});

describe('cron next run in a time zone', () => {
  it('reads the fields in the zone: 09:00 Tokyo is 00:00 UTC; 09:00 New York is 14:00 UTC in winter and 13:00 in summer', () => {
    const nine = parseCronExpression('0 9 * * *');
    expect(new Date(computeNextRunIn(nine, Date.UTC(2026, 0, 10, 12), 'Asia/Tokyo')!).toISOString()).to.equal('2026-01-11T00:00:00.000Z');
    expect(new Date(computeNextRunIn(nine, Date.UTC(2026, 0, 10, 12), 'America/New_York')!).toISOString()).to.equal('2026-01-10T14:00:00.000Z');
    expect(new Date(computeNextRunIn(nine, Date.UTC(2026, 6, 10, 12), 'America/New_York')!).toISOString()).to.equal('2026-07-10T13:00:00.000Z');
    expect(computeNextRunIn(nine, Date.UTC(2026, 0, 10, 12))).to.equal(computeNextRun(nine, Date.UTC(2026, 0, 10, 12)));
  });

  it('measures a zone offset from its wall clock', () => {
    expect(zoneOffsetMs('Asia/Kolkata', Date.UTC(2026, 0, 1))).to.equal(5.5 * 3_600_000);
    expect(zoneOffsetMs('UTC', Date.UTC(2026, 0, 1, 3, 4, 5, 678))).to.equal(0);
  });
});
