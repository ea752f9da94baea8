import { startSidecar } from '../shared/cli/sidecar-main.js';
import { preferSmallHeap } from '../shared/runtime/memory.js';
import { registrarFlags } from './flags.js';
import { runRegistrar } from './registrar.js';

preferSmallHeap();

const { values, logger, shutdown } = startSidecar({
  program: 'csi-node-driver-registrar',
  specs: registrarFlags,
  syntax: 'go',
  graceMs: 1_000,
});

await runRegistrar({ flags: values, logger, signal: shutdown, exit: (code) => process.exit(code) });
