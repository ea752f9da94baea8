// `npm run cluster`: bundles the e2e fixture's CLI (TypeScript) and runs it.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';

mkdirSync('.test-results', { recursive: true });
const outfile = '.test-results/cluster-cli.mjs';
await build({
  entryPoints: ['e2e/cluster-cli.ts'],
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  outfile,
  banner: {
    js: "import{createRequire as __createRequire}from'node:module';const require=__createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await import(new URL(`../${outfile}`, import.meta.url).href);
