// `npm run docs:flags`: rewrites the README's flag tables from the definitions.
import { readFileSync, writeFileSync } from 'node:fs';
import { withGeneratedFlagTables } from './readme-flags.js';

writeFileSync('README.md', withGeneratedFlagTables(readFileSync('README.md', 'utf8')));
