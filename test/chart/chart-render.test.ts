// The Helm chart rendered by a real `helm` (lint and template), when one is on PATH; the tests skip themselves otherwise.
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import YAML from 'yaml';
import { ROOT, values, roleFiles, type Json } from './chart-files.ts';

describe('helm chart rendered with helm (skipped when no helm binary is on PATH)', function () {
  this.timeout(60_000);
  let rendered: Json[] = [];

  const helm = (...args: string[]) => spawnSync('helm', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

  before(function () {
    const version = spawnSync('helm', ['version', '--short'], { encoding: 'utf8' });
    if (version.error || version.status !== 0) this.skip();
  });

  it('helm lint passes (skipped without helm)', () => {
    const lint = helm('lint', 'deploy/helm/gateway', '--strict');
    expect(lint.status, lint.stdout + lint.stderr).to.equal(0);
  });

  it('helm template renders parseable YAML: one workload per role, a StatefulSet for the executor, no container as root (skipped without helm)', () => {
    const out = helm('template', 't', 'deploy/helm/gateway');
    expect(out.status, out.stderr).to.equal(0);
    const docs = YAML.parseAllDocuments(out.stdout);
    for (const doc of docs) expect(doc.errors.map((e) => e.message)).to.deep.equal([]);
    rendered = docs.map((d) => d.toJS() as Json).filter((d) => d !== null);
    const workloads = rendered.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
    const byRole = new Map<string, Json>();
    for (const w of workloads) {
      const labels = (w.metadata as Json).labels as Record<string, string>;
      const component = labels['app.kubernetes.io/component']!;
      expect(byRole.has(component), `one workload for ${component}`).to.equal(false);
      byRole.set(component, w);
    }
    expect([...byRole.keys()].filter((c) => c !== 'redis').sort()).to.deep.equal(roleFiles);
    for (const role of roleFiles) {
      const w = byRole.get(role)!;
      expect(w.kind, role).to.equal(role === 'executor' ? 'StatefulSet' : 'Deployment');
      const container = ((((w.spec as Json).template as Json).spec as Json).containers as Json[])[0]!;
      expect(container.args).to.deep.equal(['node', `entrypoints/${role}.ts`]);
      expect(container, 'the image entrypoint (tini) stays').to.not.have.property('command');
      const port = role === 'webserver' ? 8080 : values.roles[role]!.healthPort;
      expect((container.ports as Json[])[0]).to.include({ containerPort: port });
      expect(container.livenessProbe).to.have.nested.property('httpGet.path', '/healthz');
      expect(container.readinessProbe).to.have.nested.property('httpGet.path', '/readyz');
    }
    expect((byRole.get('scheduler')!.spec as Json).replicas).to.equal(1);
    expect((byRole.get('executor')!.spec as Json).volumeClaimTemplates).to.have.length(1);
    expect(byRole.get('redis')!.kind).to.equal('StatefulSet');

    for (const w of workloads) {
      const pod = ((w.spec as Json).template as Json).spec as Json;
      const podContext = (pod.securityContext ?? {}) as Json;
      for (const c of pod.containers as Json[]) {
        const context = { ...podContext, ...((c.securityContext ?? {}) as Json) };
        const name = `${(w.metadata as Json).name}/${c.name}`;
        expect(context.runAsNonRoot, name).to.equal(true);
        expect(context.runAsUser, name).to.be.a('number').and.not.equal(0);
        expect(context.readOnlyRootFilesystem, name).to.equal(true);
        expect(context.allowPrivilegeEscalation, name).to.equal(false);
      }
    }
  });

  it('the rendered ConfigMap, Secret and PodDisruptionBudgets follow the values (skipped without helm)', () => {
    if (rendered.length === 0) rendered = YAML.parseAllDocuments(helm('template', 't', 'deploy/helm/gateway').stdout).map((d) => d.toJS() as Json);
    const configMap = rendered.find((d) => d.kind === 'ConfigMap')!;
    const data = configMap.data as Record<string, string>;
    for (const [key, value] of Object.entries(values.config)) {
      if (value === '' || ['HEALTH_PORT', 'NODE_KEY_FILE', 'GATEWAY_LOCAL_NODES', 'GATEWAY_DATA_DIR'].includes(key)) expect(data, key).to.not.have.property(key);
      else expect(data[key], key).to.equal(value);
    }
    const secretData = rendered.find((d) => d.kind === 'Secret')!.data as Record<string, string>;
    const decoded = Object.fromEntries(Object.entries(secretData).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    expect(decoded.GATEWAY_MASTER_KEY).to.match(/^[0-9a-f]{64}$/);
    expect(decoded.GATEWAY_COUNTER_KEY).to.match(/^[0-9a-f]{64}$/);
    expect(decoded.GATEWAY_ADMIN_TOKEN).to.match(/^[A-Za-z0-9]{32}$/);
    expect(decoded.REDIS_PASSWORD).to.match(/^[A-Za-z0-9]{32}$/);
    const budgets = rendered.filter((d) => d.kind === 'PodDisruptionBudget').map((d) => ((d.metadata as Json).labels as Json)['app.kubernetes.io/component']);
    expect(budgets.sort()).to.deep.equal(roleFiles.filter((r) => values.roles[r]!.replicas > 1).sort());
  });

  it('helm template refuses a second scheduler and an external Redis the NetworkPolicy cannot reach (skipped without helm)', () => {
    const scheduler = helm('template', 't', 'deploy/helm/gateway', '--set', 'roles.scheduler.replicas=2');
    expect(scheduler.status).to.not.equal(0);
    expect(scheduler.stderr).to.match(/roles[./]scheduler[./]replicas/); // helm 3: roles.scheduler.replicas; helm 4: /roles/scheduler/replicas
    const redis = helm('template', 't', 'deploy/helm/gateway', '--set', 'redis.enabled=false', '--set', 'externalRedis.url=redis://redis.example:6379');
    expect(redis.status).to.not.equal(0);
    expect(redis.stderr).to.include('externalRedis.cidr');
  });
});
