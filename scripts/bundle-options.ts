import type { BuildOptions } from 'esbuild';

/** The sidecars' entry points, by bundle (and bin) name. */
export const sidecarEntries = {
  'csi-provisioner': 'src/external-provisioner/main.ts',
  'csi-attacher': 'src/external-attacher/main.ts',
  'csi-node-driver-registrar': 'src/node-driver-registrar/main.ts',
  livenessprobe: 'src/livenessprobe/main.ts',
} as const;

export type SidecarName = keyof typeof sidecarEntries;

/** esbuild settings shared by `npm run build` and the tests that spawn a bundle. */
export function bundleOptions(entry: string, outfile: string, version: string): BuildOptions {
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
    // undici's CommonJS code calls require(); ESM bundles have none without this.
    banner: {
      js: "#!/usr/bin/env node\nimport{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  };
}
