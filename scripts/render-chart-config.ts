// npm run docs:chart — rewrites the chart's `config:` block in values.yaml and its schema from
// lib/config.ts, so every non-secret setting can be set from Helm values.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../lib/config.ts';

const CHART = join(import.meta.dirname, '..', 'deploy', 'helm', 'gateway');
// Settings the cluster sets otherwise; they stay in values (the chart test wants every setting) with a note.
const NOTES: Record<string, string> = {
  HEALTH_PORT: 'ignored in the cluster: set per role as roles.<role>.healthPort',
  NODE_KEY_FILE: 'ignored in the cluster: executors get /var/lib/gateway/node.key on their PVC',
  GATEWAY_DATA_DIR: 'ignored in the cluster (only `npm start` uses it)',
  GATEWAY_LOCAL_NODES: 'ignored in the cluster (only `npm start` uses it)',
  GATEWAY_NODE_NAME: 'unset: each executor registers with its pod name',
  REDIS_USERNAME: 'set per role by the chart: gateway-<role> (bundled Redis, or externalRedis.aclUsers)',
  GATEWAY_EXPORT_DIR: 'the scheduler pod writes there: it needs a persistent volume at that path; without one run `gateway export` from outside',
};

const settings = Object.values(SETTINGS).filter((s) => !('secret' in s && s.secret));
const plain = (text: string) => text.replace(/`/g, '');
const block = settings.flatMap((s) => [
  `  # ${plain(s.description)}${NOTES[s.env] ? `  [${plain(NOTES[s.env])}]` : ''}`,
  `  ${s.env}: ${JSON.stringify('fallback' in s ? s.fallback : '')}`,
]).join('\n');

const valuesPath = join(CHART, 'values.yaml');
const values = readFileSync(valuesPath, 'utf8');
const start = values.indexOf('\nconfig:\n') + '\nconfig:\n'.length;
const end = values.indexOf('\n\n# One entry per role');
if (start < '\nconfig:\n'.length || end < 0) throw new Error('values.yaml lacks the config block markers');
writeFileSync(valuesPath, `${values.slice(0, start)}${block}${values.slice(end)}`);

const schemaPath = join(CHART, 'values.schema.json');
const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as { properties: { config: { properties: unknown } } };
schema.properties.config.properties = Object.fromEntries(settings.map((s) => [s.env, { $ref: '#/definitions/envValue', description: plain(s.description) }]));
writeFileSync(schemaPath, `${JSON.stringify(schema, null, 2)}\n`);
console.log('chart config block and schema updated');
