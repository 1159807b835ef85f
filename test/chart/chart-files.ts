// Shared by the chart tests: the chart's files, parsed values and schema, and the settings and roles they must cover.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { SETTINGS } from '../../lib/config.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'deploy', 'helm', 'gateway');
export const TEMPLATES = join(CHART, 'templates');

export type Json = Record<string, unknown>;
export interface Setting {
  readonly env: string;
  readonly fallback?: string;
  readonly secret?: boolean;
}
export interface Role {
  enabled: boolean;
  replicas: number;
  healthPort?: number;
  secrets?: string[];
  env?: Record<string, string>;
  autoscaling?: Json;
}

export const read = (...parts: string[]) => readFileSync(join(CHART, ...parts), 'utf8');
export const template = (name: string) => read('templates', name);
export const settings = Object.values(SETTINGS) as readonly Setting[];
export const nonSecret = settings.filter((s) => !s.secret);
export const secret = settings.filter((s) => s.secret);
export const values = YAML.parse(read('values.yaml')) as Json & { roles: Record<string, Role>; config: Record<string, string> };
export const schema = JSON.parse(read('values.schema.json')) as Json;
export const roleFiles = readdirSync(join(ROOT, 'entrypoints'))
  .filter((f) => f.endsWith('.ts') && f !== 'all.ts')
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();

