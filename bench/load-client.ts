// bench:pipeline's load client, a process of its own (it must not share the measured program's event
// loop): POSTs `{"input": {"n": i}}` to one URL, either closed-loop (`concurrency` requests in flight
// until `requests` were sent: saturation) or open-loop (one request every 1/`ratePerSec` s whatever
// the answers: a fixed rate). Usage: node bench/load-client.ts '<LoadPlan JSON>'; writes a LoadReport
// as JSON on stdout.

export interface LoadPlan {
  readonly url: string;
  /** Sent as `authorization: Bearer <token>` when set. */
  readonly token?: string;
  readonly requests: number;
  /** Closed loop: requests in flight at once. */
  readonly concurrency?: number;
  /** Open loop: requests per second. */
  readonly ratePerSec?: number;
  /** Added to `n`, so that runs of one program never send the same input twice. */
  readonly firstN?: number;
}

export interface LoadReport {
  /** Ids of the accepted requests (answered 200 or 202), in the order of their answers. */
  readonly ids: string[];
  /** Requests not accepted, per HTTP status (0: no answer). */
  readonly refused: Record<string, number>;
  /** From the first send to the last answer. */
  readonly sendSeconds: number;
}

export async function runLoad(plan: LoadPlan): Promise<LoadReport> {
  const ids: string[] = [];
  const refused: Record<string, number> = {};
  const headers = { 'content-type': 'application/json', ...(plan.token ? { authorization: `Bearer ${plan.token}` } : {}) };
  const send = async (i: number) => {
    try {
      const response = await fetch(plan.url, { method: 'POST', headers, body: JSON.stringify({ input: { n: (plan.firstN ?? 0) + i } }) });
      const body = (await response.json()) as { id?: string };
      if ((response.status === 200 || response.status === 202) && body.id) ids.push(body.id);
      else refused[response.status] = (refused[response.status] ?? 0) + 1;
    } catch {
      refused[0] = (refused[0] ?? 0) + 1;
    }
  };
  const startedAt = performance.now();
  if (plan.ratePerSec) {
    const sends: Promise<void>[] = [];
    for (let i = 0; i < plan.requests; i++) {
      const dueMs = startedAt + (i * 1000) / plan.ratePerSec - performance.now();
      if (dueMs > 0) await new Promise((resolve) => setTimeout(resolve, dueMs));
      sends.push(send(i));
    }
    await Promise.all(sends);
  } else {
    let next = 0;
    await Promise.all(Array.from({ length: plan.concurrency ?? 64 }, async () => {
      while (next < plan.requests) await send(next++);
    }));
  }
  return { ids, refused, sendSeconds: (performance.now() - startedAt) / 1000 };
}

if (import.meta.main) {
  const report = await runLoad(JSON.parse(process.argv[2]!) as LoadPlan);
  process.stdout.write(JSON.stringify(report) + '\n');
}
