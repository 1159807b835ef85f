// Project limits, one vocabulary end to end: each field's lower bound and operator default and
// ceiling, the limits a run gets, and how they reach the sandbox and ctx.fetch.
import type { Config } from './config.ts';
import type { ProjectLimits } from './repository/types.ts';
import type { FetchPolicy } from './sandbox/guarded-fetch.ts';
import type { SandboxLimits } from './sandbox/runner.ts';

export type { ProjectLimits } from './repository/types.ts';

/** The name of one project limit (the same name in SandboxLimits, OutcomeCaps and the bootstrap). */
export type LimitName = keyof ProjectLimits;

type NumericSetting = { [K in keyof Config]-?: Config[K] extends number ? K : never }[keyof Config];

/** One limit: the least a project may set, and the settings (lib/config.ts) of its default and ceiling. */
export interface LimitRule {
  readonly min: number;
  readonly defaultKey: NumericSetting;
  readonly maxKey: NumericSetting;
}

/** Every project limit, in the order a project's limits are stored. */
export const PROJECT_LIMITS = {
  timeoutMs: { min: 10, defaultKey: 'defaultTimeoutMs', maxKey: 'maxTimeoutMs' },
  cpuMs: { min: 10, defaultKey: 'defaultCpuMs', maxKey: 'maxCpuMs' },
  memoryMb: { min: 8, defaultKey: 'defaultMemoryMb', maxKey: 'maxMemoryMb' },
  fetchCalls: { min: 0, defaultKey: 'defaultFetchCalls', maxKey: 'maxFetchCalls' },
  outputBytes: { min: 64, defaultKey: 'defaultOutputBytes', maxKey: 'maxOutputBytes' },
  logLines: { min: 0, defaultKey: 'defaultLogLines', maxKey: 'maxLogLines' },
  logBytes: { min: 0, defaultKey: 'defaultLogBytes', maxKey: 'maxLogBytes' },
} as const satisfies Record<LimitName, LimitRule>;

/** The limit names, in table order. */
export const LIMIT_NAMES = Object.keys(PROJECT_LIMITS) as readonly LimitName[];

/** Redirects a guarded fetch follows per call. */
const FETCH_MAX_REDIRECTS = 5;

/**
 * The range a project may set `name` within under the operator's current settings (`min` to the
 * ceiling), and `fallback`, what it gets when it sets none: the default, capped by the ceiling.
 */
export function limitRange(name: LimitName, config: Config): { min: number; max: number; fallback: number } {
  const rule: LimitRule = PROJECT_LIMITS[name];
  const max = config[rule.maxKey];
  return { min: rule.min, max, fallback: Math.min(config[rule.defaultKey], max) };
}

/** How parseProjectLimits checks and reports: the caller's own checks, so each problem lands with its others. */
export interface LimitReader {
  /** `value` as an integer in min..max; undefined when it is absent, or invalid (reporting why). */
  integer(value: unknown, name: LimitName, min: number, max: number): number | undefined;
  /** Reports a field of the given limits that names no limit. */
  unknownField(name: string): void;
}

/**
 * A new project's limits from the untrusted fields it gave: each limit it names, read by
 * `reader.integer` within its range; every other (or invalid) one, the fallback of limitRange.
 * Unknown names go to `reader.unknownField` first, then the limits' problems in table order.
 */
export function parseProjectLimits(given: Readonly<Record<string, unknown>>, config: Config, reader: LimitReader): ProjectLimits {
  for (const name of Object.keys(given)) if (!(LIMIT_NAMES as readonly string[]).includes(name)) reader.unknownField(name);
  return mapLimits((name) => {
    const { min, max, fallback } = limitRange(name, config);
    return reader.integer(given[name], name, min, max) ?? fallback;
  });
}

/**
 * The limits a run gets: the project's own, capped by the operator's current ceilings (a ceiling
 * lowered after a project was created applies at once); a limit the project lacks takes the fallback.
 */
export function effectiveLimits(project: { readonly limits: Partial<ProjectLimits> }, config: Config): ProjectLimits {
  return mapLimits((name) => {
    const { max, fallback } = limitRange(name, config);
    return Math.min(project.limits[name] ?? fallback, max);
  });
}

/** What the sandbox takes of a run's limits: the same fields, under the same names. */
export function sandboxLimitsOf(limits: ProjectLimits): SandboxLimits {
  const { timeoutMs, cpuMs, memoryMb, outputBytes, logLines, logBytes } = limits;
  return { timeoutMs, cpuMs, memoryMb, outputBytes, logLines, logBytes };
}

/** A run's ctx.fetch policy: its `fetchCalls` limit (the policy's `maxCalls`) and the operator's fetch settings. */
export function fetchPolicyOf(
  limits: Pick<ProjectLimits, 'fetchCalls'>,
  config: Pick<Config, 'fetchTimeoutMs' | 'fetchMaxRequestBytes' | 'fetchMaxResponseBytes' | 'fetchAllow'>,
): FetchPolicy {
  return {
    maxCalls: limits.fetchCalls,
    timeoutMs: config.fetchTimeoutMs,
    maxRequestBytes: config.fetchMaxRequestBytes,
    maxResponseBytes: config.fetchMaxResponseBytes,
    maxRedirects: FETCH_MAX_REDIRECTS,
    allow: config.fetchAllow,
  };
}

// Builds a ProjectLimits field by field, in table order (the order a project's limits are stored in).
function mapLimits(valueOf: (name: LimitName) => number): ProjectLimits {
  const limits = {} as Record<LimitName, number>;
  for (const name of LIMIT_NAMES) limits[name] = valueOf(name);
  return limits;
}
