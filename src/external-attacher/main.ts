import { startSidecar } from '../shared/cli/sidecar-main.js';
import { FlagError } from '../shared/flags/flag-set.js';
import { runAttacher } from './attacher.js';
import { attacherFlags, resolveAttacherConfig } from './flags.js';
import type { AttacherConfig } from './flags.js';

const { values, logger, shutdown } = startSidecar({
  program: 'csi-attacher',
  specs: attacherFlags,
  syntax: 'go',
  // Time for a Lease release and in-flight writes to finish.
  graceMs: 2_000,
});

let config: AttacherConfig;
try {
  config = resolveAttacherConfig(values);
} catch (err) {
  if (err instanceof FlagError) {
    // Go's flag package: the message on stderr and exit 2.
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  logger.error(err, 'Invalid command line');
  process.exit(1);
}

try {
  await runAttacher({ config, logger, signal: shutdown, exit: (code) => process.exit(code) });
} catch (err) {
  if (!shutdown.aborted) {
    logger.error(err, 'csi-attacher failed');
    process.exit(1);
  }
}
