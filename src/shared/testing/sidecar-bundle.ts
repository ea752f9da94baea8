import { build } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleOptions, sidecarEntries } from '../../../scripts/bundle-options.js';
import type { SidecarName } from '../../../scripts/bundle-options.js';

/**
 * Bundles one sidecar from the current sources into a temp dir, so process
 * tests exercise exactly what ships without depending on a prior build.
 */
export async function bundleSidecar(name: SidecarName): Promise<string> {
  const outfile = join(mkdtempSync(join(tmpdir(), 'sidecar-')), `${name}.mjs`);
  await build(bundleOptions(sidecarEntries[name], outfile, 'test'));
  return outfile;
}
