// Work repeated on an interval, one run at a time: a run that fails is reported and the next one
// tries again; `stop()` waits for the run in progress.

export interface Periodic<T> {
  /** Runs the work now (after any run in progress) and resolves with its result. */
  runOnce(): Promise<T>;
  stop(): Promise<void>;
}

export function startPeriodic<T>(options: { intervalMs: number; run: () => Promise<T>; onError: (error: Error) => void; runAtStart?: boolean }): Periodic<T> {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const enqueue = (): Promise<T> => {
    const next = running.then(options.run);
    running = next.catch(() => undefined);
    return next;
  };
  const tick = () => {
    if (!stopped) enqueue().catch((error: Error) => options.onError(error));
  };
  const timer = setInterval(tick, options.intervalMs);
  if (options.runAtStart) tick();
  return {
    runOnce: enqueue,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
