// Unit tests for project limits: defaults, ceilings (lowered after the fact too), and the mapping to the sandbox and ctx.fetch.
import { expect } from 'chai';
import { loadConfig } from '../../lib/config.ts';
import { effectiveLimits, fetchPolicyOf, LIMIT_NAMES, parseProjectLimits, sandboxLimitsOf, type LimitReader, type ProjectLimits } from '../../lib/limits.ts';

const DEFAULTS: ProjectLimits = { timeoutMs: 5000, cpuMs: 2000, memoryMb: 64, fetchCalls: 10, outputBytes: 262144, logLines: 100, logBytes: 16384 };
const LIMITS: ProjectLimits = { timeoutMs: 1500, cpuMs: 400, memoryMb: 32, fetchCalls: 3, outputBytes: 4096, logLines: 20, logBytes: 1024 };

// A reader as the webserver's: integers within range, every problem collected.
function collectingReader(): LimitReader & { problems: string[] } {
  const problems: string[] = [];
  return {
    problems,
    integer(value, name, min, max) {
      if (value === undefined) return undefined;
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) return value;
      problems.push(`${name}: ${min}..${max}`);
      return undefined;
    },
    unknownField: (name) => problems.push(`${name}: unknown`),
  };
}

describe('project limits', () => {
  const effectiveCases: Array<{ name: string; env: Record<string, string>; given: Partial<ProjectLimits>; expected: ProjectLimits }> = [
    { name: 'applies every default to a project that sets none', env: {}, given: {}, expected: DEFAULTS },
    { name: "keeps a project's own limits within the ceilings", env: {}, given: LIMITS, expected: LIMITS },
    {
      name: 'caps a project value by a ceiling lowered after it was set',
      env: { GATEWAY_MAX_TIMEOUT_MS: '1000', GATEWAY_MAX_LOG_LINES: '5' },
      given: LIMITS,
      expected: { ...LIMITS, timeoutMs: 1000, logLines: 5 },
    },
    { name: 'caps a default by a ceiling below it', env: { GATEWAY_MAX_MEMORY_MB: '16' }, given: {}, expected: { ...DEFAULTS, memoryMb: 16 } },
  ];
  for (const { name, env, given, expected } of effectiveCases) {
    it(`effectiveLimits ${name}`, () => {
      const limits = effectiveLimits({ limits: given }, loadConfig(env));
      expect(limits).to.deep.equal(expected);
      expect(Object.keys(limits)).to.deep.equal(LIMIT_NAMES);
    });
  }

  const parseCases: Array<{ name: string; given: Record<string, unknown>; expected: ProjectLimits; problems: string[] }> = [
    { name: 'applies every default to an empty object', given: {}, expected: DEFAULTS, problems: [] },
    { name: 'keeps values within range', given: { timeoutMs: 1500, logBytes: 0 }, expected: { ...DEFAULTS, timeoutMs: 1500, logBytes: 0 }, problems: [] },
    { name: 'reports a value past the ceiling or under the bound', given: { cpuMs: 10_001, outputBytes: 63 }, expected: DEFAULTS, problems: ['cpuMs: 10..10000', 'outputBytes: 64..1048576'] },
    { name: 'reports unknown fields first, inherited names too', given: { memoryMb: 'big', bogus: 1, toString: 1 }, expected: DEFAULTS, problems: ['bogus: unknown', 'toString: unknown', 'memoryMb: 8..256'] },
  ];
  for (const { name, given, expected, problems } of parseCases) {
    it(`parseProjectLimits ${name}`, () => {
      const reader = collectingReader();
      expect(parseProjectLimits(given, loadConfig({}), reader)).to.deep.equal(expected);
      expect(reader.problems).to.deep.equal(problems);
    });
  }

  it('sandboxLimitsOf hands the sandbox every limit but fetchCalls, under the same names', () => {
    expect(sandboxLimitsOf(LIMITS)).to.deep.equal({ timeoutMs: 1500, cpuMs: 400, memoryMb: 32, outputBytes: 4096, logLines: 20, logBytes: 1024 });
  });

  it("fetchPolicyOf takes the call limit from fetchCalls and the rest from the operator's fetch settings", () => {
    const config = loadConfig({ GATEWAY_FETCH_TIMEOUT_MS: '700', GATEWAY_FETCH_MAX_REQUEST_BYTES: '100', GATEWAY_FETCH_MAX_RESPONSE_BYTES: '200', GATEWAY_FETCH_ALLOW: 'example.test' });
    expect(fetchPolicyOf(LIMITS, config)).to.deep.equal({ maxCalls: 3, timeoutMs: 700, maxRequestBytes: 100, maxResponseBytes: 200, maxRedirects: 5, allow: ['example.test'] });
  });
});
