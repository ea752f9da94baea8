// Runs a TypeScript entry point of the dev tooling (e2e CLI, benchmarks) on Node 24:
// `node scripts/run-ts.mjs <entry.ts> [args…]`. It bundles the entry with esbuild into
// .test-results/ and imports it, because Node's type stripping cannot follow the
// `.js` import specifiers the sources use.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename } from 'node:path';

const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args…]');
  process.exit(2);
}
mkdirSync('.test-results', { recursive: true });
const outfile = `.test-results/${basename(entry, '.ts')}.mjs`;
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  outfile,
  banner: {
    js: "import{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);",
  },
  // Code that bundles sidecars itself loads the installed esbuild rather than its binary shim.
  external: ['esbuild'],
  logLevel: 'warning',
});
// The entry sees its own arguments at process.argv[2…], as if run directly.
process.argv.splice(2, 1);
await import(new URL(`../${outfile}`, import.meta.url).href);
