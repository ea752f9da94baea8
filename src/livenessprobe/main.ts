import { parseCommandLine } from '../shared/flags/command-line.js';
import { loggerFromFlags } from '../shared/flags/logging-flags.js';
import { Logger } from '../shared/log/logger.js';
import { preferSmallHeap } from '../shared/runtime/memory.js';
import { livenessProbeFlags } from './flags.js';
import { runLivenessProbe } from './livenessprobe.js';

preferSmallHeap();

const { values: flags } = parseCommandLine({
  program: 'livenessprobe',
  specs: livenessProbeFlags,
  argv: process.argv.slice(2),
  syntax: 'go',
});

let logger: Logger;
try {
  logger = loggerFromFlags(flags, { name: 'livenessprobe' });
} catch (err) {
  new Logger({ name: 'livenessprobe' }).error(err, 'LoggingConfiguration is invalid');
  process.exit(1);
}

const shutdown = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    logger.info('Shutting down', { signal: sig });
    shutdown.abort();
    setImmediate(() => process.exit(0));
  });
}

await runLivenessProbe({ flags, logger, signal: shutdown.signal, exit: (code) => process.exit(code) });
