import { parseCommandLine } from '../shared/flags/command-line.js';
import { loggerFromFlags } from '../shared/flags/logging-flags.js';
import { Logger } from '../shared/log/logger.js';
import { provisionerFlags, resolveProvisionerConfig } from './flags.js';
import type { ProvisionerConfig } from './flags.js';
import { runProvisioner } from './provisioner.js';

const { values } = parseCommandLine({
  program: 'csi-provisioner',
  specs: provisionerFlags,
  argv: process.argv.slice(2),
  syntax: 'pflag',
});

let logger: Logger;
try {
  logger = loggerFromFlags(values, { name: 'csi-provisioner' });
} catch (err) {
  new Logger({ name: 'csi-provisioner' }).error(err, 'LoggingConfiguration is invalid');
  process.exit(1);
}

let config: ProvisionerConfig;
try {
  config = resolveProvisionerConfig(values);
} catch (err) {
  logger.error(err, 'Invalid command line');
  process.exit(1);
}

const shutdown = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    logger.info('Shutting down', { signal: sig });
    shutdown.abort();
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}

try {
  await runProvisioner({ config, logger, signal: shutdown.signal, exit: (code) => process.exit(code) });
} catch (err) {
  if (!shutdown.signal.aborted) {
    logger.error(err, 'csi-provisioner failed');
    process.exit(1);
  }
}
