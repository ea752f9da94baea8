import { build } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleOptions, sidecarEntries } from '../../scripts/bundle-options.js';

/** The npm packages whose code ends up in a sidecar's bundle. */
async function bundledPackages(entry: string): Promise<Set<string>> {
  const outfile = join(mkdtempSync(join(tmpdir(), 'bundle-inputs-')), 'out.mjs');
  const result = await build({ ...bundleOptions(entry, outfile, 'test'), metafile: true, write: false });
  const packages = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    if (m) packages.add(m[1]);
  }
  return packages;
}

describe('csi-node-driver-registrar bundle', () => {
  it('holds no Kubernetes client: the registrar never talks to the API server', async () => {
    const packages = await bundledPackages(sidecarEntries['csi-node-driver-registrar']);
    expect(packages).toContain('@grpc/grpc-js');
    for (const unused of ['@kubernetes/client-node', 'undici', 'p-queue']) expect(packages).not.toContain(unused);
  });
});
