// The receiver role alone: REDIS_URL and the role's settings from the environment; stops on SIGTERM/SIGINT.
import { runSingleRole } from '../lib/process.ts';

await runSingleRole('receiver', process.env);
