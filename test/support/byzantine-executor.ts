// A Byzantine executor for end-to-end tests: a real node process (its own seed, its own Redis user,
// its own queues) whose sandbox answers a value the code never returned. It signs that value with
// its own key exactly as an honest node signs, so only the quorum can tell.
import { loadConfig, requireSettings } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { createSandbox, credentialsOf, nodeIdOf, openProcess, runMain, startExecutorNode, stopAll, stopOnSignals } from '../../lib/process.ts';
import type { SandboxRunner } from '../../lib/sandbox/runner.ts';

await runMain(async () => {
  const config = loadConfig(process.env);
  requireSettings(config, ['redisUrl', 'nodeKeyFile']);
  const logger = createLogger('byzantine-executor', config.logLevel);
  const ctx = await openProcess('executor', config, config.redisUrl!, logger, {
    credentials: credentialsOf(config),
    queueGauges: { kind: 'node', nodeId: nodeIdOf(config.nodeKeyFile!) },
  });
  const honest = createSandbox(ctx);
  const lying: SandboxRunner = {
    async run(job) {
      const outcome = await honest.run(job);
      return outcome.ok ? { ...outcome, value: { lie: process.env.BYZANTINE_TAG ?? 'byzantine' } } : outcome;
    },
    close: () => honest.close(),
    stats: () => honest.stats(),
  };
  const handle = await startExecutorNode(ctx, config.nodeKeyFile!, { sandbox: lying, registry: null });
  logger.info('byzantine executor started');
  stopOnSignals(async () => {
    await stopAll([handle], ctx);
    await lying.close();
  }, ctx.logger);
});
