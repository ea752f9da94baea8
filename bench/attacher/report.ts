import type { RequestCounts } from '../shared/audit.js';
import type { Panel, Series } from '../shared/chart.js';
import { chartSvg, cumulative } from '../shared/chart.js';
import type { Machine } from '../shared/run.js';
import type { Distribution } from '../shared/stats.js';
import { LABELS } from './implementations.js';
import type { Implementation } from './implementations.js';
import type { MemoryResult } from './memory.js';
import type { AttachmentTimes, CellResult } from './scenario.js';

export interface AttacherBenchResults {
  startedAt: string;
  machine: Machine;
  /** `git describe`-like: the commit of the sources measured, `+dirty` with uncommitted changes. */
  commit: string;
  command: string;
  implementations: Pick<Implementation, 'id' | 'display'>[];
  settings: Record<string, unknown>;
  cells: CellResult[];
  memory?: MemoryResult;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const n = (v: number | undefined, digits = 1): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);

const implLabel = (id: string): string => LABELS[id as Implementation['id']] ?? id;

function cellLabel(r: Pick<CellResult, 'count' | 'qps' | 'burst'>): string {
  return `N=${r.count}, qps ${r.qps}/${r.burst}`;
}

/** a / b as `1.23×`; blank when either is missing or b is 0. */
function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '';
  return `${(a / b).toFixed(2)}×`;
}

function perVa(counts: RequestCounts | undefined, key: string, count: number): string {
  const v = counts?.byVerb[key];
  if (v === undefined) return '';
  // Once-per-run requests (a watch restart) would round to 0.00 per VA: show them as totals.
  return v / count < 0.01 ? `${v} in total` : (v / count).toFixed(2);
}

const dist = (d: Distribution | undefined, keys: (keyof Distribution)[] = ['p50', 'p90', 'p99', 'max']): string =>
  keys.map((k) => n(d?.[k], 2)).join(' / ');

const cpuSum = (r: CellResult): number | undefined =>
  r.cpuS?.attach && r.cpuS.detach ? r.cpuS.attach.attacher + r.cpuS.detach.attacher : undefined;

/** The implementation compared with Go in the ratio rows: the first one that is not Go. */
function comparedIds(res: AttacherBenchResults): { a: string; b: string } | undefined {
  const ids = res.implementations.map((i) => i.id);
  const a = ids.find((id) => id !== 'go');
  return a !== undefined && ids.includes('go') ? { a, b: 'go' } : undefined;
}

export function markdownReport(res: AttacherBenchResults): string {
  const out: string[] = [];
  const ok = res.cells.filter((r) => !r.error);
  const cmp = comparedIds(res);
  const ratioLabel = cmp ? `${implLabel(cmp.a)}/${implLabel(cmp.b)}` : '';
  out.push('# csi-attacher benchmark', '');
  out.push(
    `Machine: ${res.machine.nproc} cores (${res.machine.cpu}), ${res.machine.platform}, Node ${res.machine.node}. ` +
      `Started ${res.startedAt}, commit ${res.commit}. kube-apiserver ${res.cells.find((r) => r.apiserverVersion)?.apiserverVersion ?? '?'}.`,
    '',
    `Command: \`${res.command}\``,
    '',
    'Attachers (each with upstream flags `--kube-api-qps/--kube-api-burst` as below, ' +
      `\`--timeout=${String(res.settings.timeout)} --worker-threads=${String(res.settings.workers)} -v=2\`):`,
    '',
    ...res.implementations.map((i) => `- ${implLabel(i.id)}: \`${i.display}\``),
    '',
    'KCM at `--kube-api-qps=1000 --kube-api-burst=1000` (its attach/detach controller does not manage the bench node); ' +
      'the Kubernetes e2e mock CSI driver; the bench creates the VolumeAttachments; one fresh cluster per scenario ' +
      'and attacher; one run per cell.',
    '',
  );
  const errors = res.cells.filter((r) => r.error).map((r) => `${r.name}: ${r.error}`);
  if (res.memory?.error) errors.push(`memory: ${res.memory.error}`);
  if (errors.length > 0) out.push('## FAILURES', '', ...errors.map((e) => `- ${e}`), '');

  const settings = [...new Set(res.cells.map((r) => `${r.qps}/${r.burst}`))];
  for (const setting of settings) {
    out.push(`## \`--kube-api-qps ${setting.replace('/', ' --kube-api-burst ')}\``, '');
    out.push(
      '| VAs | attacher | all attached (s) | attached/s | create→attached p50 / p90 / p99 / max (s) | delete all, VAs gone (s) | L2 floor attach 3 writes/VA (s) | L2 floor detach 2 writes/VA (s) | attacher writes/VA attach; detach | attacher CPU s attach + detach | attacher RSS idle → peak (MiB) |',
      '| ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | --- |',
    );
    const rows = res.cells.filter((r) => `${r.qps}/${r.burst}` === setting);
    for (const count of [...new Set(rows.map((r) => r.count))]) {
      const group = rows.filter((r) => r.count === count);
      for (const r of group) {
        if (r.error) {
          out.push(
            `| ${r.count} | ${implLabel(r.implementation)} | **failed**: ${r.error.replace(/\|/g, '\\|')} | | | | | | | | |`,
          );
          continue;
        }
        const w = r.writesPerVa;
        out.push(
          `| ${r.count} | ${implLabel(r.implementation)} | ${n(r.allAttachedS, 2)} | ${n(r.attachedPerS)} | ${dist(r.latencyS?.createToAttached)} | ${n(r.detachAllS, 2)} | ${n(r.budgetFloorS.attachThreeWrites)} | ${n(r.budgetFloorS.detachTwoWrites)} | ${n(w?.attach.other, 2)}; ${n(w?.detach.other, 2)}${(w?.attach.events ?? 0) + (w?.detach.events ?? 0) > 0 ? ` (+ events ${n(w?.attach.events, 2)}; ${n(w?.detach.events, 2)})` : ''} | ${n(r.cpuS?.attach?.attacher, 2)} + ${n(r.cpuS?.detach?.attacher, 2)} | ${n(r.rssMiB?.beforeBurst)} → ${n(r.rssMiB?.hwm)} |`,
        );
      }
      const a = group.find((r) => r.implementation === cmp?.a && !r.error);
      const b = group.find((r) => r.implementation === cmp?.b && !r.error);
      if (a && b) {
        const la = a.latencyS?.createToAttached;
        const lb = b.latencyS?.createToAttached;
        out.push(
          `| | *${ratioLabel}* | ${ratio(a.allAttachedS, b.allAttachedS)} | ${ratio(a.attachedPerS, b.attachedPerS)} | ${(['p50', 'p90', 'p99', 'max'] as const).map((k) => ratio(la?.[k], lb?.[k]) || '—').join(' / ')} | ${ratio(a.detachAllS, b.detachAllS)} | | | ${ratio(a.writesPerVa?.attach.other, b.writesPerVa?.attach.other)}; ${ratio(a.writesPerVa?.detach.other, b.writesPerVa?.detach.other)} | ${ratio(cpuSum(a), cpuSum(b))} | ${ratio(a.rssMiB?.beforeBurst, b.rssMiB?.beforeBurst)} → ${ratio(a.rssMiB?.hwm, b.rssMiB?.hwm)} |`,
        );
      }
    }
    out.push('');
  }

  const bursts = ok.filter((r) => r.detachBurst);
  if (bursts.length > 0) {
    out.push('## Attach latency under a detach burst', '');
    out.push(
      'N VolumeAttachments attached again (their PVs keep the finalizer, so 2 writes each), the token bucket refilled, then all N deleted and M new ones (fresh PVs) created at the same moment (or `--new-after-ms` later). New attaches may wait behind the detaches: upstream serves both from one queue and one worker pool (kubernetes-csi/external-attacher#761), and each attacher spends one token bucket on both.',
      '',
    );
    out.push(
      '| scenario | attacher | N re-attached (s) | M new | old N gone (s) | last new attached, from the delete (s) | new create→attached p50 / p99 / max (s) | new attached before the last old one was gone |',
      '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |',
    );
    for (const r of bursts) {
      const d = r.detachBurst;
      out.push(
        `| ${cellLabel(r)} | ${implLabel(r.implementation)} | ${n(d?.reattachS, 2)} | ${r.newDuringDetach}${r.newAfterMs ? ` (${r.newAfterMs} ms after the delete)` : ''} | ${n(d?.oldGoneS, 2)} | ${n(d?.newAllAttachedS, 2)} | ${dist(d?.newLatencyS, ['p50', 'p99', 'max'])} | ${d?.newAttachedBeforeOldGone ?? '—'} |`,
      );
    }
    out.push('');
  }

  if (ok.length > 0) {
    out.push('## Stage split: p50 / p99 per VolumeAttachment (s)', '');
    out.push(
      'From the VolumeAttachment create: the attacher adds its finalizer to the PV → adds its finalizer and the node-ID annotation to the VolumeAttachment (then calls ControllerPublishVolume) → status attached. From the delete request: ControllerUnpublishVolume, finalizer removed → gone.',
      '',
    );
    out.push('| scenario | attacher | → PV finalizer | → VA finalizer | → attached | delete → gone |');
    out.push('| --- | --- | ---: | ---: | ---: | ---: |');
    const d2 = (x: Distribution | undefined): string => dist(x, ['p50', 'p99']);
    for (const r of ok) {
      const l = r.latencyS;
      out.push(
        `| ${cellLabel(r)} | ${implLabel(r.implementation)} | ${d2(l?.createToPvFinalizer)} | ${d2(l?.createToVaFinalizer)} | ${d2(l?.createToAttached)} | ${d2(l?.deleteToGone)} |`,
      );
    }
    out.push('');

    out.push('## API requests per VolumeAttachment by the attacher (apiserver audit log)', '');
    out.push(
      'Attach phase: first create → 2 s after the last attached. Detach phase: delete request → 2 s after the last one is gone. A watch counts once when it starts.',
      '',
    );
    const keys = new Set<string>();
    for (const r of ok)
      for (const phase of ['attach', 'detach'] as const)
        Object.keys(r.requests?.[phase]?.attacher.byVerb ?? {}).forEach((k) => keys.add(k));
    const cols = ok.flatMap((r) => [`${cellLabel(r)} ${implLabel(r.implementation)} attach`, 'detach']);
    out.push(`| verb resource | ${cols.join(' | ')} |`, `| --- | ${cols.map(() => '---:').join(' | ')} |`);
    for (const key of [...keys].sort()) {
      const cells = ok.flatMap((r) => [
        perVa(r.requests?.attach?.attacher, key, r.count),
        perVa(r.requests?.detach?.attacher, key, r.count),
      ]);
      out.push(`| ${key} | ${cells.join(' | ')} |`);
    }
    const statusCell = (c: RequestCounts | undefined): string =>
      Object.entries(c?.byStatus ?? {})
        .filter(([s]) => !s.startsWith('2'))
        .map(([s, v]) => `${s}: ${v}`)
        .join(', ') || '—';
    out.push(
      `| *non-2xx responses (total)* | ${ok.flatMap((r) => [statusCell(r.requests?.attach?.attacher), statusCell(r.requests?.detach?.attacher)]).join(' | ')} |`,
    );
    out.push(
      `| *KCM requests (per VA, all verbs)* | ${ok.flatMap((r) => [(r.requests?.attach?.['kube-controller-manager'].total ?? 0) / r.count, (r.requests?.detach?.['kube-controller-manager'].total ?? 0) / r.count].map((v) => v.toFixed(2))).join(' | ')} |`,
    );
    out.push('');

    out.push('## CPU seconds per component (attach phase + detach phase)', '');
    out.push(
      '`bench` is the load generator and watcher; `machine` is the busy time of all cores: what exceeds the sum of the other columns was used by other processes on the box.',
      '',
    );
    const comps = Object.keys(ok[0].cpuS?.attach ?? {});
    out.push(`| scenario | ${comps.join(' | ')} |`, `| --- | ${comps.map(() => '---:').join(' | ')} |`);
    for (const r of ok)
      out.push(
        `| ${cellLabel(r)}, ${implLabel(r.implementation)} | ${comps.map((c) => `${n(r.cpuS?.attach?.[c], 2)} + ${n(r.cpuS?.detach?.[c], 2)}`).join(' | ')} |`,
      );
    out.push('');
  }

  const m = res.memory;
  if (m && !m.error) {
    out.push('## Memory: RSS with attached VolumeAttachments and their PVs cached', '');
    out.push(
      '| attacher | VAs + PVs | ready (s) | RSS (MiB) | peak RSS, VmHWM (MiB) | KiB per VA+PV over empty | attacher writes from start to sample |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const impl of res.implementations) {
      const r = m.results[impl.id];
      if (!r) continue;
      out.push(
        `| ${implLabel(impl.id)} | 0 | ${n(r.empty?.readyS, 2)} | ${n(r.empty?.rssMiB)} | ${n(r.empty?.hwmMiB)} | | ${r.empty?.writes ?? '—'} |`,
      );
      out.push(
        `| ${implLabel(impl.id)} | ${m.volumes} | ${n(r.loaded?.readyS, 2)} | ${n(r.loaded?.rssMiB)} | ${n(r.loaded?.hwmMiB)} | ${n(r.kibPerVolume, 2)} | ${r.loaded?.writes ?? '—'} |`,
      );
    }
    if (cmp && m.results[cmp.a]?.loaded && m.results[cmp.b]?.loaded) {
      const a = m.results[cmp.a];
      const b = m.results[cmp.b];
      out.push(
        `| *${ratioLabel}* | 0 | ${ratio(a.empty?.readyS, b.empty?.readyS)} | ${ratio(a.empty?.rssMiB, b.empty?.rssMiB)} | ${ratio(a.empty?.hwmMiB, b.empty?.hwmMiB)} | | |`,
        `| *${ratioLabel}* | ${m.volumes} | ${ratio(a.loaded?.readyS, b.loaded?.readyS)} | ${ratio(a.loaded?.rssMiB, b.loaded?.rssMiB)} | ${ratio(a.loaded?.hwmMiB, b.loaded?.hwmMiB)} | ${ratio(a.kibPerVolume, b.kibPerVolume)} | |`,
      );
    }
    out.push(
      '',
      `(${2 * m.volumes} objects created directly in ${n(m.createObjectsS)} s = ${n(m.objectsPerS, 0)} objects/s, plus a status patch per VolumeAttachment; "ready" = spawn → canary VolumeAttachment attached, i.e. after the initial LISTs; the writes are the canary's attach, 3 when nothing else was touched.)`,
      '',
    );
  }
  out.push('Chart: [chart.svg](chart.svg). Raw numbers, including per-VolumeAttachment times: results.json.', '');
  return out.join('\n');
}

export function chart(res: AttacherBenchResults): string {
  const ok = res.cells.filter((r) => !r.error && r.vas);
  const progress: Series[] = [];
  const cdf: Series[] = [];
  const del: Series[] = [];
  const legend: Series[] = [];
  const cells = [...new Set(ok.map((r) => cellLabel(r)))];
  for (const r of ok) {
    const color = COLORS[cells.indexOf(cellLabel(r)) % COLORS.length];
    const dashed = r.implementation === 'go';
    const label = `${cellLabel(r)} ${implLabel(r.implementation)}`;
    const times = Object.values(r.vas ?? {}) as AttachmentTimes[];
    const s = (f: (t: AttachmentTimes) => number | undefined): number[] =>
      times.map((t) => (f(t) ?? Number.NaN) / 1000);
    progress.push({
      label,
      color,
      dashed,
      points: cumulative(
        s((t) => t.attached),
        r.count,
      ),
    });
    cdf.push({
      label,
      color,
      dashed,
      points: cumulative(
        s((t) => (t.attached ?? Number.NaN) - t.created),
        r.count,
      ),
    });
    del.push({
      label,
      color,
      dashed,
      points: cumulative(
        s((t) => t.gone),
        r.count,
      ),
    });
  }
  cells.forEach((c, i) => legend.push({ label: c, color: COLORS[i % COLORS.length], points: [] }));
  if (ok.some((r) => r.implementation === 'go'))
    legend.push({ label: 'dashed: Go', color: '#555', dashed: true, points: [] });
  const panels: Panel[] = [
    {
      title: 'Burst: VolumeAttachments attached',
      xLabel: 'seconds since the first create',
      yLabel: '% of VAs',
      xScale: 'linear',
      series: progress,
    },
    {
      title: 'Per-VA latency, create → attached (CDF)',
      xLabel: 'seconds (log scale)',
      yLabel: '% of VAs',
      xScale: 'log',
      series: cdf,
    },
    {
      title: 'Delete all: VolumeAttachments gone',
      xLabel: 'seconds since the delete',
      yLabel: '% of VAs',
      xScale: 'linear',
      series: del,
    },
  ];
  return chartSvg('csi-attacher: burst of VolumeAttachments on the local control plane', panels, legend);
}
