import type { BuildOptions } from 'esbuild';

/** The sidecars' entry points, by bundle (and bin) name. */
export const sidecarEntries = {
  'csi-provisioner': 'src/external-provisioner/main.ts',
  'csi-attacher': 'src/external-attacher/main.ts',
  'csi-node-driver-registrar': 'src/node-driver-registrar/main.ts',
  livenessprobe: 'src/livenessprobe/main.ts',
} as const;

export type SidecarName = keyof typeof sidecarEntries;

/** Sidecars that bundle @kubernetes/client-node, whose undici crashes with obscure errors before Node 22. */
const needsModernNode = new Set<string>([sidecarEntries['csi-provisioner'], sidecarEntries['csi-attacher']]);

/** esbuild settings shared by `npm run build` and the tests that spawn a bundle. */
export function bundleOptions(entry: string, outfile: string, version: string): BuildOptions {
  const nodeCheck =
    "if(Number(process.versions.node.split('.')[0])<24){process.stderr.write('This program needs Node.js 24 or newer; this is '+process.version+'\\n');process.exit(1)}";
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    outfile,
    define: { __SIDECAR_VERSION__: JSON.stringify(version) },
    // undici's CommonJS code calls require(); ESM bundles have none without this. The version
    // check runs before any bundled code.
    banner: {
      js: [
        '#!/usr/bin/env node',
        "import{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);",
        ...(needsModernNode.has(entry) ? [nodeCheck] : []),
      ].join('\n'),
    },
    logLevel: 'warning',
  };
}
