// The project cache of the receiver and the executors, and the executors' secrets cache: one read per
// project per two seconds, misses and failures not kept.
import { expect } from 'chai';
import { createProjectLoader, createSecretsLoader, PROJECT_CACHE_MS } from '../../lib/roles/project-loader.ts';
import type { Project } from '../../lib/repository/types.ts';

const project = (id: string, version: number) => ({ id, version }) as unknown as Project;

describe('project loader', () => {
  it('reuses one read for PROJECT_CACHE_MS, shares a read in flight, and reads again after', async () => {
    let now = 1_000;
    let version = 1;
    const reads: string[] = [];
    const load = createProjectLoader({ getProject: async (id) => (reads.push(id), project(id, version)) }, { now: () => now });
    const [a, b] = await Promise.all([load('prj_a'), load('prj_a')]);
    expect([a?.version, b?.version, reads]).to.deep.equal([1, 1, ['prj_a']]);
    version = 2;
    now += PROJECT_CACHE_MS - 1;
    expect((await load('prj_a'))?.version).to.equal(1);
    now += 1;
    expect((await load('prj_a'))?.version).to.equal(2);
    expect(reads).to.deep.equal(['prj_a', 'prj_a']);
  });

  it('keeps neither a missing project nor a failed read', async () => {
    let calls = 0;
    let answer: 'missing' | 'fail' | 'found' = 'missing';
    const load = createProjectLoader({
      getProject: async (id) => {
        calls++;
        if (answer === 'fail') throw new Error('connection lost');
        return answer === 'found' ? project(id, 3) : null;
      },
    }, { now: () => 0 });
    expect(await load('prj_b')).to.equal(null);
    answer = 'fail';
    let failure: unknown;
    await load('prj_b').catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.equal('connection lost');
    answer = 'found';
    expect((await load('prj_b'))?.version).to.equal(3);
    expect(await load('prj_b')).to.deep.equal(project('prj_b', 3));
    expect(calls).to.equal(3);
  });

  it('keeps a project\'s secrets (an empty set too) for PROJECT_CACHE_MS, per project, and not a failed read', async () => {
    let now = 5_000;
    let stored: Record<string, Record<string, string>> = { prj_a: { TOKEN: 'one' }, prj_b: {} };
    let isFailing = false;
    const reads: string[] = [];
    const load = createSecretsLoader({
      getSecrets: async (id) => {
        reads.push(id);
        if (isFailing) throw new Error('connection lost');
        return stored[id]!;
      },
    }, { now: () => now });
    expect(await Promise.all([load('prj_a'), load('prj_a'), load('prj_b')])).to.deep.equal([{ TOKEN: 'one' }, { TOKEN: 'one' }, {}]);
    stored = { prj_a: { TOKEN: 'two' }, prj_b: { NEW: 'x' } };
    now += PROJECT_CACHE_MS - 1;
    expect([await load('prj_a'), await load('prj_b')]).to.deep.equal([{ TOKEN: 'one' }, {}]);
    expect(reads).to.deep.equal(['prj_a', 'prj_b']);
    now += 1;
    isFailing = true;
    let failure: unknown;
    await load('prj_a').catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.equal('connection lost');
    isFailing = false;
    expect([await load('prj_a'), await load('prj_b')]).to.deep.equal([{ TOKEN: 'two' }, { NEW: 'x' }]);
    expect(reads).to.deep.equal(['prj_a', 'prj_b', 'prj_a', 'prj_a', 'prj_b']);
  });
});
