import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagTables, readmeFlagTable, tableCells } from '../scripts/readme-flags.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

describe('README flag reference', () => {
  it.each(Object.keys(flagTables))('lists exactly the flags %s parses (npm run docs:flags rewrites it)', (sidecar) => {
    const documented = readmeFlagTable(readme, sidecar);
    expect(documented, `README.md lacks the flags:${sidecar} markers`).toBeDefined();
    expect(tableCells(documented ?? '')).toEqual(tableCells(flagTables[sidecar]));
  });

  it('compares cells, not padding', () => {
    expect(tableCells('| a | b |\n|---|:-:|\n| `--x` | 1 \\| 2 |')).toEqual([
      ['a', 'b'],
      ['---', '---'],
      ['`--x`', '1 \\| 2'],
    ]);
  });
});
