import { startSidecar } from '../shared/cli/sidecar-main.js';
import { preferSmallHeap } from '../shared/runtime/memory.js';
import { livenessProbeFlags } from './flags.js';
import { runLivenessProbe } from './livenessprobe.js';

preferSmallHeap();

const { values, logger, shutdown } = startSidecar({
  program: 'livenessprobe',
  specs: livenessProbeFlags,
  syntax: 'go',
  graceMs: 0,
});

await runLivenessProbe({ flags: values, logger, signal: shutdown, exit: (code) => process.exit(code) });
