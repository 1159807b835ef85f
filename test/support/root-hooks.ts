// Root hooks: a test that leaves sockets, servers or child processes open fails, and so does the run.
const WATCHED = new Set(['TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap', 'PipeWrap', 'TCPWRAP', 'PROCESSWRAP']);

function openHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => WATCHED.has(r)).length;
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
  async afterEach(): Promise<void> {
    const count = await settle(baseline, 2000);
    if (count > baseline) throw new Error(`the test left ${count - baseline} socket(s), server(s) or child process(es) open`);
  },
  async afterAll(): Promise<void> {
    const count = await settle(initial, 3000);
    if (count > initial) throw new Error(`the run left ${count - initial} socket(s), server(s) or child process(es) open: ${process.getActiveResourcesInfo().join(', ')}`);
  },
};
