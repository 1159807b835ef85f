// Root hooks: a test that leaves sockets, servers or child processes open fails, and so does the run.
const WATCHED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap', 'PipeWrap', 'TCPWRAP', 'PROCESSWRAP']);

function openHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => WATCHED.has(r)).length;
}

function describeHandles(): string {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (WATCHED.has(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([type, n]) => `${n} ${type}`).join(', ');
}

const sharedSuites = new WeakSet<Mocha.Suite>();

/**
 * For a suite whose fixtures live across its tests (started in `before`): processes they respawn
 * or connections they open lazily are checked when the run ends, not after each test.
 */
export function allowSharedFixtures(suite: Mocha.Suite): void {
  sharedSuites.add(suite);
}

function isShared(suite: Mocha.Suite | undefined): boolean {
  for (let s = suite; s; s = s.parent) if (sharedSuites.has(s)) return true;
  return false;
}

async function settle(limit: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  let count = openHandles();
  while (count > limit && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    count = openHandles();
  }
  return count;
}

let baseline = 0;
let initial = 0;

export const mochaHooks = {
  beforeAll(): void {
    initial = openHandles();
  },
  beforeEach(): void {
    baseline = openHandles();
  },
  async afterEach(this: Mocha.Context): Promise<void> {
    if (isShared(this.currentTest?.parent)) return;
    const count = await settle(baseline, 2000);
    if (count > baseline) throw new Error(`the test left ${count - baseline} socket(s), server(s) or child process(es) open (now: ${describeHandles()})`);
  },
  async afterAll(): Promise<void> {
    const count = await settle(initial, 3000);
    if (count > initial) throw new Error(`the run left ${count - initial} socket(s), server(s) or child process(es) open (now: ${describeHandles()})`);
  },
};
