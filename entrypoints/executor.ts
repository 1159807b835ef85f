// The executor role alone: REDIS_URL and the role's settings from the environment; stops on SIGTERM/SIGINT.
import { runSingleRole } from '../lib/process.ts';

await runSingleRole('executor', process.env);
