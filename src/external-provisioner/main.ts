import { startSidecar } from '../shared/cli/sidecar-main.js';
import { provisionerFlags, resolveProvisionerConfig } from './flags.js';
import type { ProvisionerConfig } from './flags.js';
import { runProvisioner } from './provisioner.js';

const { values, logger, shutdown } = startSidecar({
  program: 'csi-provisioner',
  specs: provisionerFlags,
  syntax: 'pflag',
  // Time for a Lease release and in-flight writes to finish.
  graceMs: 2_000,
});

let config: ProvisionerConfig;
try {
  config = resolveProvisionerConfig(values);
} catch (err) {
  logger.error(err, 'Invalid command line');
  process.exit(1);
}

try {
  await runProvisioner({ config, logger, signal: shutdown, exit: (code) => process.exit(code) });
} catch (err) {
  if (!shutdown.aborted) {
    logger.error(err, 'csi-provisioner failed');
    process.exit(1);
  }
}
