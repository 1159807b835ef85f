// The Helm chart (deploy/helm/gateway): what it promises, checked without a cluster. The schema, the
// values and the template texts are checked always; `helm lint` and `helm template` only when a helm
// binary is on PATH, in chart-render.test.ts.
import { readdirSync } from 'node:fs';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { expect } from 'chai';
import YAML from 'yaml';
import { ACL_ROLES, aclUsername } from '../../lib/redis-acl.ts';
import { TEMPLATES, read, template, nonSecret, secret, values, schema, roleFiles, type Json } from './chart-files.ts';

// ajv is CommonJS: TypeScript (nodenext) types its default import as the module, with the class as
// `.default`; at run time the default import is the class itself (which also carries `.default`).
const Ajv = (AjvModule.default ?? AjvModule) as typeof AjvModule.default;
let compiled: ValidateFunction | undefined;
/** values.schema.json compiled in ajv's strict mode (compiled in the first test that needs it, so a bad schema fails a test, not the run). */
function validate(data: unknown): boolean {
  compiled ??= new Ajv({ allErrors: true, allowUnionTypes: true, strict: true, strictRequired: false }).compile(schema);
  const ok = compiled(data);
  validate.errors = compiled.errors ?? [];
  return ok;
}
validate.errors = [] as ErrorObject[];

/** The schema's errors for values.yaml changed by `edit` (a deep copy). */
function errorsAfter(edit: (v: Json & { roles: Record<string, Json>; config: Json; secrets: Json }) => void) {
  const copy = structuredClone(values) as unknown as Json & { roles: Record<string, Json>; config: Json; secrets: Json };
  edit(copy);
  expect(validate(copy), 'expected the schema to reject these values').to.equal(false);
  return validate.errors ?? [];
}

/** The body of one `define` in _helpers.tpl. */
function helper(name: string): string {
  const text = template('_helpers.tpl');
  const start = text.indexOf(`{{- define "${name}" -}}`);
  expect(start, `helper ${name} is defined`).to.be.greaterThan(-1);
  const next = text.indexOf('{{- define ', start + 1);
  return text.slice(start, next === -1 ? undefined : next);
}

/** Every `{{ ... }}` action of a template text, comments left out. */
function actionsOf(text: string): string[] {
  return [...text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!.trim()).filter((a) => !a.startsWith('/*'));
}

describe('helm chart (deploy/helm/gateway)', () => {
  it('Chart.yaml parses: apiVersion v2, name gateway, version 0.3.0, appVersion "0.3.0"', () => {
    const chart = YAML.parse(read('Chart.yaml')) as Json;
    expect(chart).to.include({ apiVersion: 'v2', name: 'gateway', version: '0.3.0', appVersion: '0.3.0' });
  });

  it('values.yaml parses and validates against values.schema.json (draft-07)', () => {
    expect(schema.$schema).to.equal('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).to.equal(false);
    const ok = validate(values);
    expect(validate.errors ?? []).to.deep.equal([]);
    expect(ok).to.equal(true);
  });

  it('the schema rejects a typo: an unknown key at the top, in a role entry, in config, or an unknown role', () => {
    const top = errorsAfter((v) => { v.replicaCount = 3; });
    expect(top).to.deep.include({ instancePath: '', schemaPath: '#/additionalProperties', keyword: 'additionalProperties', params: { additionalProperty: 'replicaCount' }, message: 'must NOT have additional properties' });

    const inRole = errorsAfter((v) => { v.roles.executor!.replica = 5; });
    expect(inRole.some((e) => e.keyword === 'additionalProperties' && e.instancePath === '/roles/executor' && e.params.additionalProperty === 'replica')).to.equal(true);

    const inConfig = errorsAfter((v) => { v.config.GATEWAY_ROUND_MSS = '3000'; });
    expect(inConfig.some((e) => e.keyword === 'additionalProperties' && e.instancePath === '/config' && e.params.additionalProperty === 'GATEWAY_ROUND_MSS')).to.equal(true);

    const unknownRole = errorsAfter((v) => { v.roles.recevier = structuredClone(v.roles.receiver); });
    expect(unknownRole.some((e) => e.keyword === 'additionalProperties' && e.instancePath === '/roles' && e.params.additionalProperty === 'recevier')).to.equal(true);
  });

  it('the schema rejects wrong types and values: replicas as text, a non-hex master key, a second scheduler, a reserved env name', () => {
    const replicas = errorsAfter((v) => { v.roles.executor!.replicas = 'three'; });
    expect(replicas.some((e) => e.keyword === 'type' && e.instancePath === '/roles/executor/replicas' && e.params.type === 'integer')).to.equal(true);

    const config = errorsAfter((v) => { v.config.GATEWAY_ROUND_MS = { ms: 2000 }; });
    expect(config.some((e) => e.keyword === 'type' && e.instancePath === '/config/GATEWAY_ROUND_MS')).to.equal(true);

    const masterKey = errorsAfter((v) => { v.secrets.masterKey = 'not-hex'; });
    expect(masterKey.some((e) => e.keyword === 'pattern' && e.instancePath === '/secrets/masterKey')).to.equal(true);

    const scheduler = errorsAfter((v) => { v.roles.scheduler!.replicas = 2; });
    expect(scheduler.some((e) => e.keyword === 'const' && e.instancePath === '/roles/scheduler/replicas')).to.equal(true);

    const reserved = errorsAfter((v) => { (v.roles.receiver!.env as Json).REDIS_URL = 'redis://elsewhere:6379'; });
    expect(reserved.some((e) => e.keyword === 'propertyNames' && e.instancePath === '/roles/receiver/env')).to.equal(true);
  });

  it('every role file in entrypoints/ (but all.ts) has an entry in values.roles, and there is no other', () => {
    expect(roleFiles).to.deep.equal(['consensus', 'executor', 'receiver', 'scheduler', 'sender', 'webserver']);
    expect(Object.keys(values.roles).sort()).to.deep.equal(roleFiles);
    const schemaRoles = (schema.properties as Record<string, Json>).roles!;
    expect(Object.keys(schemaRoles.properties as Json).sort()).to.deep.equal(roleFiles);
    for (const role of roleFiles.filter((r) => r !== 'webserver')) {
      expect(values.roles[role]!.healthPort, `${role}.healthPort`).to.be.a('number');
    }
    expect(values.roles.scheduler!.replicas).to.equal(1);
    expect(values.roles.executor!.autoscaling).to.include.keys('enabled', 'minReplicas', 'maxReplicas');
  });

  it('the workloads and the other per-role objects are generated by ranging over .Values.roles', () => {
    const rangeOverRoles = /\{\{-?\s*range\s+\$name,\s*\$role\s*:=\s*\.Values\.roles\s*\}\}/;
    for (const file of ['workloads.yaml', 'pdb.yaml', 'hpa.yaml', 'networkpolicy.yaml']) {
      expect(template(file), file).to.match(rangeOverRoles);
    }
    const workloads = template('workloads.yaml');
    expect(workloads.match(/^kind:/gm), 'one kind line, chosen per role').to.have.length(1);
    expect(workloads).to.include('kind: {{ ternary "StatefulSet" "Deployment" $isExecutor }}');
    expect(workloads).to.include('{{- $isExecutor := eq $name "executor" }}');
    expect(workloads).to.include('args: ["node", "entrypoints/{{ $name }}.ts"]');
    expect(workloads).to.match(/livenessProbe:\s+httpGet:\s+path: \/healthz\s+port: \{\{ \$portName \}\}/);
    expect(workloads).to.match(/readinessProbe:\s+httpGet:\s+path: \/readyz\s+port: \{\{ \$portName \}\}/);
    expect(workloads).to.match(/\{\{- if eq \$name "scheduler" \}\}\n(\s*#.*\n)?\s*replicas: 1\n/);
    expect(workloads).to.include('volumeClaimTemplates:');
    expect(workloads).to.include('mountPath: /var/lib/gateway');
    expect(workloads).to.include('terminationGracePeriodSeconds: {{ $role.terminationGracePeriodSeconds | default $.Values.terminationGracePeriodSeconds | default 30 }}');
    expect(values.terminationGracePeriodSeconds).to.equal(30);
    expect(helper('gateway.env')).to.include('- name: NODE_KEY_FILE\n  value: /var/lib/gateway/node.key');
    expect(helper('gateway.env')).to.include('- name: TZ\n  value: UTC');
    expect(helper('gateway.env')).to.include('- name: HEALTH_PORT');
  });

  it('every non-secret setting of lib/config.ts is a key of values.config, with its fallback (or "") as the value', () => {
    const expected = Object.fromEntries(nonSecret.map((s) => [s.env, s.fallback ?? '']));
    expect(values.config, "regenerate with npm run docs:chart").to.deep.equal(expected);
    const schemaConfig = (schema.properties as Record<string, Json>).config!;
    expect(Object.keys(schemaConfig.properties as Json).sort()).to.deep.equal(Object.keys(expected).sort());
    expect(schemaConfig.additionalProperties).to.equal(false);
    const configMap = template('configmap.yaml');
    expect(configMap).to.match(/range \$key, \$value := \.Values\.config/);
    expect(configMap, 'empty values are left out').to.include('(ne (toString $value) "")');
  });

  it('every secret setting comes from the Secret: named in the Secret template, and given to the roles by secretKeyRef (the mnemonic as a file)', () => {
    expect(secret.map((s) => s.env)).to.include.members(['REDIS_URL', 'GATEWAY_ADMIN_TOKEN', 'GATEWAY_MASTER_KEY', 'GATEWAY_COUNTER_KEY']);
    const secretTemplate = template('secret.yaml');
    const workloads = template('workloads.yaml');
    const env = helper('gateway.env');
    expect(workloads).to.include('{{- include "gateway.env" $roleArgs');
    expect(env).to.match(/secretKeyRef:\s+name: \{\{ \$secretName \}\}\s+key: \{\{ \$key \}\}/);
    const givenToSomeRole = new Set(Object.values(values.roles).flatMap((r) => r.secrets ?? []));
    for (const { env: name } of secret) {
      // The admin's Redis password is the bundled Redis's default user's: the Secret's REDIS_PASSWORD.
      if (name === 'REDIS_ADMIN_PASSWORD') expect(workloads).to.match(/- key: REDIS_PASSWORD\s+path: admin-password/);
      else expect(secretTemplate, `${name} in secret.yaml`).to.include(`  ${name}: {{`);
      if (name === 'REDIS_URL') {
        expect(env).to.match(/- name: REDIS_URL\s+valueFrom:\s+secretKeyRef:\s+name: \{\{ \$secretName \}\}\s+key: REDIS_URL/);
      } else if (name === 'REDIS_PASSWORD' || name === 'REDIS_ADMIN_PASSWORD') {
        // A role's Redis login: its own password as a file of the Secret (REDIS_PASSWORD_<ROLE>), the admin's for the webserver.
        expect(env).to.include(`- name: ${name}_FILE\n`);
      } else if (name === 'GATEWAY_CHAIN_MNEMONIC') {
        // lib/config.ts asks for its _FILE form: a file of the Secret volume, when the chain is configured.
        expect(env).to.include('- name: GATEWAY_CHAIN_MNEMONIC_FILE\n  value: /var/run/secrets/gateway/GATEWAY_CHAIN_MNEMONIC');
        expect(workloads).to.match(/secret:\s+secretName: \{\{ include "gateway.secretName" \$ \}\}[\s\S]*?items:\s+- key: GATEWAY_CHAIN_MNEMONIC\s+path: GATEWAY_CHAIN_MNEMONIC/);
        expect(values.roles.sender!.secrets).to.include(name);
      } else {
        expect(env, `${name} among the Secret keys given to roles`).to.match(new RegExp(`range \\$key := list [^}]*"${name}"`));
        expect(givenToSomeRole.has(name), `some role receives ${name}`).to.equal(true);
      }
    }
    // Each role gets what it needs (README: executors and the webserver need the master key, the
    // scheduler the counter key, the webserver the admin token).
    expect(values.roles.executor!.secrets).to.include('GATEWAY_MASTER_KEY');
    expect(values.roles.webserver!.secrets).to.include.members(['GATEWAY_ADMIN_TOKEN', 'GATEWAY_MASTER_KEY']);
    expect(values.roles.scheduler!.secrets).to.include('GATEWAY_COUNTER_KEY');
    // The bundled Redis: a REDIS_URL without a password; each role logs in with REDIS_USERNAME and a password file.
    expect(env).to.include('value: {{ printf "redis://%s:6379" (include "gateway.redisHost" $root) | quote }}');
    expect(env).to.not.include('$(REDIS_PASSWORD)');
    expect(secretTemplate).to.include('{{- if not .Values.secrets.existingSecret }}');
    expect(secretTemplate).to.include('lookup "v1" "Secret" .Release.Namespace $name');
    expect(secretTemplate).to.include('(randAlphaNum 32)');
    expect(secretTemplate).to.include('(randAlphaNum 64 | sha256sum)');
    expect(secretTemplate).to.include('REDIS_PASSWORD:');
    const redis = template('redis.yaml');
    for (const arg of ['"--appendonly"\n            - "yes"', '"--appendfsync"\n            - "always"', '"--maxmemory-policy"\n            - "noeviction"', '"--aclfile"\n            - "/data/users.acl"']) {
      expect(redis).to.include(arg);
    }
  });

  it('gives every role its own Redis ACL user: a generated password per role in the Secret, mounted as that role\'s REDIS_PASSWORD_FILE only, and the bundled Redis\'s ACL file written from them', () => {
    const helpers = read('templates', '_helpers.tpl');
    expect(helpers.slice(helpers.indexOf('define "gateway.aclRoles"')).split('\n')[1]).to.equal(ACL_ROLES.join(' '));
    const env = helper('gateway.env');
    expect(env).to.include('- name: REDIS_USERNAME\n  value: {{ printf "gateway-%s" .name | quote }}');
    expect(env).to.include('- name: REDIS_PASSWORD_FILE\n  value: /var/run/secrets/redis/password');
    expect(env).to.include('- name: REDIS_ADMIN_PASSWORD_FILE\n  value: /var/run/secrets/redis/admin-password');
    // The usernames the chart gives are the ones lib/redis-acl.ts generates rules for.
    for (const role of ACL_ROLES) expect(aclUsername(role)).to.equal(`gateway-${role}`);
    const workloads = template('workloads.yaml');
    expect(workloads).to.match(/- name: redis-login\s+secret:\s+secretName: \{\{ include "gateway.secretName" \$ \}\}\s+defaultMode: 288\s+items:\s+- key: \{\{ printf "REDIS_PASSWORD_%s" \(upper \$name\) \}\}\s+path: password/);
    const secretTemplate = template('secret.yaml');
    expect(secretTemplate).to.include('{{- $key := printf "REDIS_PASSWORD_%s" (upper $role) }}');
    expect(secretTemplate).to.match(/\{\{ \$key \}\}: \{\{ include "gateway.secretData" \(dict "given" "" "live" \(get \$live \$key\) "generated" \(randAlphaNum 32\)\) \}\}/);
    const redis = template('redis.yaml');
    expect(redis).to.include('args: ["node", "cli/main.ts", "redis-acl", "--acl-file", "/data/users.acl", "--password-dir", "/var/run/secrets/redis-users", "--prefix", {{ .Values.config.GATEWAY_KEY_PREFIX | default "gw" | quote }}]');
    expect(redis).to.match(/- key: REDIS_PASSWORD\s+path: default/);
    expect(redis).to.include('path: {{ printf "gateway-%s" $role }}');
    expect(redis).to.not.include('--requirepass');
    expect(values.redis).to.deep.include({ webserverAdmin: false });
    expect((values.externalRedis as Json).aclUsers).to.equal(false);
  });

  it('the NetworkPolicy lets executors reach the internet but not the private, link-local, CGNAT or cluster ranges', () => {
    const policy = template('networkpolicy.yaml');
    expect(values.networkPolicy).to.include({ enabled: true });
    expect(policy).to.include('{{- if .Values.networkPolicy.enabled }}');
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fe80::/10']) {
      expect(policy, cidr).to.include(`"${cidr}"`);
    }
    expect(policy).to.match(/- ipBlock:\s+cidr: "0\.0\.0\.0\/0"\s+except:\s+\{\{- range \$v4Except \}\}/);
    expect(policy).to.match(/- ipBlock:\s+cidr: "::\/0"\s+except:\s+\{\{- range \$v6Except \}\}/);
    expect(policy).to.include('range $cidr := $np.clusterCIDRs');
    expect(policy, 'the internet rule is the executors\' alone').to.match(/\{\{- if eq \$name "executor" \}\}\s+# The internet/);
    expect(policy).to.match(/port: 53/);
    expect(values.networkPolicy).to.have.nested.property('dnsPeers[0].podSelector.matchLabels.k8s-app', 'kube-dns');
    expect(policy).to.match(/port: 6379/);
    expect(policy).to.include('cidr: {{ $.Values.externalRedis.cidr | quote }}');
  });

  it('the workloads run hardened: non-root uid 10001, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp, /tmp on an emptyDir', () => {
    const workloads = template('workloads.yaml');
    const container = workloads.slice(workloads.indexOf('      containers:'));
    for (const line of ['runAsNonRoot: true', 'runAsUser: 10001', 'readOnlyRootFilesystem: true', 'allowPrivilegeEscalation: false', 'capabilities:\n              drop: ["ALL"]', 'seccompProfile:\n              type: RuntimeDefault']) {
      expect(container, line).to.include(line);
    }
    expect(workloads).to.match(/securityContext:\s+runAsNonRoot: true\s+runAsUser: 10001/);
    expect(workloads).to.match(/- name: tmp\s+mountPath: \/tmp/);
    expect(workloads).to.match(/- name: tmp\s+emptyDir:/);
    expect(workloads).to.include('automountServiceAccountToken: false');
  });

  it('every template has balanced blocks and includes only defined helpers (what helm would refuse to parse)', () => {
    const files = readdirSync(TEMPLATES).filter((f) => /\.(ya?ml|tpl|txt)$/.test(f));
    const defined = new Set<string>();
    for (const file of files) for (const m of template(file).matchAll(/\{\{-? define "([^"]+)"/g)) defined.add(m[1]!);
    for (const file of files) {
      const stack: string[] = [];
      for (const action of actionsOf(template(file))) {
        const word = action.replace(/^-\s*/, '').split(/[\s(]/)[0]!;
        if (['if', 'range', 'with', 'define', 'block'].includes(word)) stack.push(word);
        else if (word === 'else') expect(['if', 'range', 'with'], `${file}: {{ ${action} }}`).to.include(stack.at(-1));
        else if (word === 'end') expect(stack.pop(), `${file}: an {{ end }} closes nothing`).to.not.equal(undefined);
        let depth = 0;
        for (const ch of action.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
          depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
          expect(depth, `${file}: parentheses in {{ ${action} }}`).to.be.at.least(0);
        }
        expect(depth, `${file}: parentheses in {{ ${action} }}`).to.equal(0);
        for (const m of action.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)) expect(defined, `${file}: include "${m[1]}"`).to.include(m[1]);
      }
      expect(stack, `${file}: blocks left open`).to.deep.equal([]);
    }
  });

});
