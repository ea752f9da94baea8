// The README's flag reference tables, generated from the flag definitions the
// sidecars parse, so the documentation cannot drift from the code. Each table
// sits between `<!-- flags:<sidecar> -->` and `<!-- /flags:<sidecar> -->`.
import { attacherFlags } from '../src/external-attacher/flags.js';
import { provisionerFlags } from '../src/external-provisioner/flags.js';
import { livenessProbeFlags } from '../src/livenessprobe/flags.js';
import { registrarFlags } from '../src/node-driver-registrar/flags.js';
import { formatFlagTable } from '../src/shared/flags/flag-set.js';

export const flagTables: Record<string, string> = {
  'csi-provisioner': formatFlagTable(provisionerFlags, 'pflag'),
  'csi-attacher': formatFlagTable(attacherFlags, 'go'),
  'csi-node-driver-registrar': formatFlagTable(registrarFlags, 'go'),
  livenessprobe: formatFlagTable(livenessProbeFlags, 'go'),
};

function markers(sidecar: string): { begin: string; end: string } {
  return { begin: `<!-- flags:${sidecar} -->`, end: `<!-- /flags:${sidecar} -->` };
}

/** Where one sidecar's table sits (between its markers), or undefined when the README lacks them. */
function tableSpan(readme: string, sidecar: string): { from: number; to: number } | undefined {
  const { begin, end } = markers(sidecar);
  const at = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (at < 0 || to < at) return undefined;
  return { from: at + begin.length, to };
}

/** The text between one sidecar's markers, or undefined when the README lacks them. */
export function readmeFlagTable(readme: string, sidecar: string): string | undefined {
  const span = tableSpan(readme, sidecar);
  return span && readme.slice(span.from, span.to);
}

/** The README with every table replaced by the generated one (Prettier aligns the columns afterwards). */
export function withGeneratedFlagTables(readme: string): string {
  let text = readme;
  for (const [sidecar, table] of Object.entries(flagTables)) {
    const span = tableSpan(text, sidecar);
    if (!span) throw new Error(`README.md has no ${markers(sidecar).begin} … ${markers(sidecar).end}`);
    text = `${text.slice(0, span.from)}\n\n${table}\n${text.slice(span.to)}`;
  }
  return text;
}

/** A markdown table reduced to its cells, so Prettier's column padding does not count as a difference. */
export function tableCells(table: string): string[][] {
  return table
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replace(/^:?-+:?$/, '---')),
    );
}
