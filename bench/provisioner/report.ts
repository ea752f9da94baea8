import type { RequestCounts } from '../shared/audit.js';
import type { Panel, Series } from '../shared/chart.js';
import { chartSvg, cumulative } from '../shared/chart.js';
import type { Machine } from '../shared/run.js';
import type { MemoryResult } from './memory.js';
import type { ClaimTimes, ThroughputResult } from './scenario.js';

export interface BenchResults {
  startedAt: string;
  machine: Machine;
  command: string;
  provisionerCommand: string;
  settings: Record<string, unknown>;
  throughput: ThroughputResult[];
  memory?: MemoryResult;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const n = (v: number | undefined, digits = 1): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);

function label(r: ThroughputResult): string {
  return `N=${r.count}, qps ${r.qps}/${r.burst}`;
}

function perPvc(counts: RequestCounts | undefined, key: string, count: number): string {
  const v = counts?.byVerb[key];
  if (v === undefined) return '';
  // Once-per-run requests (a watch restart) would round to 0.00 per PVC: show them as totals.
  return v / count < 0.01 ? `${v} in total` : (v / count).toFixed(2);
}

export function markdownReport(res: BenchResults): string {
  const out: string[] = [];
  const ok = res.throughput.filter((r) => !r.error);
  out.push('# csi-provisioner benchmark', '');
  out.push(
    `Machine: ${res.machine.nproc} cores (${res.machine.cpu}), ${res.machine.platform}, Node ${res.machine.node}. ` +
      `Started ${res.startedAt}. kube-apiserver ${res.throughput.find((r) => r.apiserverVersion)?.apiserverVersion ?? '?'}.`,
    '',
    `Command: \`${res.command}\``,
    '',
    `Provisioner: \`${res.provisionerCommand}\` + upstream flags (\`--kube-api-qps/--kube-api-burst\` as below, ` +
      `\`--timeout=${String(res.settings.timeout)} --worker-threads=100 --leader-election=false -v=2\`). ` +
      'KCM at `--kube-api-qps=1000 --kube-api-burst=1000`; the Kubernetes e2e mock CSI driver; one fresh cluster per ' +
      'scenario; one run per cell.',
    '',
  );
  const errors = [...res.throughput.filter((r) => r.error).map((r) => `${r.name}: ${r.error}`)];
  if (res.memory?.error) errors.push(`memory: ${res.memory.error}`);
  if (errors.length > 0) out.push('## FAILURES', '', ...errors.map((e) => `- ${e}`), '');

  const settings = [...new Set(res.throughput.map((r) => `${r.qps}/${r.burst}`))];
  for (const setting of settings) {
    const rows = res.throughput.filter((r) => `${r.qps}/${r.burst}` === setting);
    out.push(`## \`--kube-api-qps ${setting.replace('/', ' --kube-api-burst ')}\``, '');
    out.push(
      '| PVCs | all PVs created (s) | all Bound (s) | Bound/s | create→Bound p50 / p90 / p99 / max (s) | delete all, PVs gone (s) | L2 floor 1 write/PVC (s) | upstream L2 floor 3 writes/PVC (s) | provisioner writes/PVC (+ events) | provisioner CPU s create + delete | provisioner RSS idle → peak (MiB) |',
      '| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | --- |',
    );
    for (const r of rows) {
      if (r.error) {
        out.push(`| ${r.count} | **failed**: ${r.error.replace(/\|/g, '\\|')} | | | | | | | | | |`);
        continue;
      }
      const l = r.latencyS?.createToBound;
      const w = r.provisionerWritesPerPvc;
      out.push(
        `| ${r.count} | ${n(r.allPvsS)} | ${n(r.allBoundS)} | ${n(r.boundPerS)} | ${n(l?.p50, 2)} / ${n(l?.p90, 2)} / ${n(l?.p99, 2)} / ${n(l?.max, 2)} | ${n(r.deleteAllS)} | ${n(r.budgetFloorS.oneWrite)} | ${n(r.budgetFloorS.upstreamThreeWrites)} | ${n(w?.create.other, 2)} (+ ${n(w?.create.events, 2)}); delete ${n(w?.delete.other, 2)} (+ ${n(w?.delete.events, 2)}) | ${n(r.cpuS?.create.provisioner, 2)} + ${n(r.cpuS?.delete.provisioner, 2)} | ${n(r.provisionerRssMiB?.beforeBurst)} → ${n(r.provisionerRssMiB?.hwm)} |`,
      );
    }
    out.push('');
  }

  if (ok.length > 0) {
    out.push('## Floor: raw write rate of the same apiserver (L0)', '');
    out.push(
      '| cluster of | PV creates | in flight | create (s) | PV creates/s | deletes answered (s) | all gone (s) |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of ok) {
      const f = r.floor;
      if (!f) continue;
      out.push(
        `| ${label(r)} | ${f.volumes} | ${f.concurrency} | ${n(f.createS, 2)} | ${n(f.createPerS, 0)} | ${n(f.deleteRequestsS, 2)} | ${n(f.allGoneS, 2)} |`,
      );
    }
    out.push('');

    out.push('## Stage split: p50 / p99 per PVC (s)', '');
    out.push(
      'From the PVC create: KCM annotates the PVC (`volume.kubernetes.io/storage-provisioner`) → the provisioner creates the PV → KCM binds. From the delete request: KCM marks the PV Released → the provisioner calls DeleteVolume and deletes the PV (deletionTimestamp set) → the provisioner removes its finalizer, the PV is gone.',
      '',
    );
    out.push('| scenario | → annotated | → PV created | → Bound | delete → Released | → PV DELETE sent | → PV gone |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of ok) {
      const l = r.latencyS;
      const d = (x: { p50: number; p99: number } | undefined): string => `${n(x?.p50, 2)} / ${n(x?.p99, 2)}`;
      out.push(
        `| ${label(r)} | ${d(l?.createToAnnotated)} | ${d(l?.createToPv)} | ${d(l?.createToBound)} | ${d(l?.deleteToPvReleased)} | ${d(l?.deleteToPvDeleteRequested)} | ${d(l?.deleteToPvGone)} |`,
      );
    }
    out.push('');

    out.push('## API requests per PVC by the provisioner (apiserver audit log)', '');
    out.push(
      'Create phase: first PVC create → 2 s after the last Bound. Delete phase: delete request → 2 s after the last PV is gone. A watch counts once when it starts.',
      '',
    );
    const keys = new Set<string>();
    for (const r of ok)
      for (const phase of ['create', 'delete'] as const)
        Object.keys(r.requests?.[phase].provisioner.byVerb ?? {}).forEach((k) => keys.add(k));
    const cols = ok.flatMap((r) => [`${label(r)} create`, 'delete']);
    out.push(`| verb resource | ${cols.join(' | ')} |`, `| --- | ${cols.map(() => '---:').join(' | ')} |`);
    for (const key of [...keys].sort()) {
      const cells = ok.flatMap((r) => [
        perPvc(r.requests?.create.provisioner, key, r.count),
        perPvc(r.requests?.delete.provisioner, key, r.count),
      ]);
      out.push(`| ${key} | ${cells.join(' | ')} |`);
    }
    const statusCell = (c: RequestCounts | undefined): string =>
      Object.entries(c?.byStatus ?? {})
        .filter(([s]) => !s.startsWith('2'))
        .map(([s, v]) => `${s}: ${v}`)
        .join(', ') || '—';
    out.push(
      `| *non-2xx responses (total)* | ${ok.flatMap((r) => [statusCell(r.requests?.create.provisioner), statusCell(r.requests?.delete.provisioner)]).join(' | ')} |`,
    );
    out.push(
      `| *KCM requests (per PVC, all verbs)* | ${ok.flatMap((r) => [(r.requests?.create['kube-controller-manager'].total ?? 0) / r.count, (r.requests?.delete['kube-controller-manager'].total ?? 0) / r.count].map((v) => v.toFixed(2))).join(' | ')} |`,
    );
    out.push('');

    out.push('## CPU seconds per component (create phase + delete phase)', '');
    out.push(
      '`bench` is the load generator and watcher; `machine` is the busy time of all cores: what exceeds the sum of the other columns was used by other processes on the box.',
      '',
    );
    const comps = Object.keys(ok[0].cpuS?.create ?? {});
    out.push(`| scenario | ${comps.join(' | ')} |`, `| --- | ${comps.map(() => '---:').join(' | ')} |`);
    for (const r of ok)
      out.push(
        `| ${label(r)} | ${comps.map((c) => `${n(r.cpuS?.create[c], 2)} + ${n(r.cpuS?.delete[c], 2)}`).join(' | ')} |`,
      );
    out.push('');
  }

  const m = res.memory;
  if (m && !m.error) {
    out.push('## Memory: RSS with PV+PVC pairs cached', '');
    out.push(
      '| PV+PVC pairs | ready (s) | RSS (MiB) | peak RSS, VmHWM (MiB) | KiB per pair over empty | upstream need at ~40 KiB/volume (MiB) |',
    );
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: |');
    out.push(`| 0 | ${n(m.empty?.readyS, 2)} | ${n(m.empty?.rssMiB)} | ${n(m.empty?.hwmMiB)} | | |`);
    out.push(
      `| ${m.volumes} | ${n(m.loaded?.readyS, 2)} | ${n(m.loaded?.rssMiB)} | ${n(m.loaded?.hwmMiB)} | ${n(m.kibPerVolume, 2)} | ${((m.volumes * 40) / 1024).toFixed(0)} |`,
    );
    out.push(
      '',
      `(${2 * m.volumes} objects created directly in ${n(m.createObjectsS)} s = ${n(m.objectsPerS, 0)} objects/s; "ready" = spawn → canary PV created, i.e. after the initial LIST.)`,
      '',
    );
  }
  out.push('Chart: [chart.svg](chart.svg). Raw numbers, including per-PVC times: results.json.', '');
  return out.join('\n');
}

export function chart(res: BenchResults): string {
  const ok = res.throughput.filter((r) => !r.error && r.claims);
  const progress: Series[] = [];
  const cdf: Series[] = [];
  const del: Series[] = [];
  const legend: Series[] = [];
  ok.forEach((r, i) => {
    const color = COLORS[i % COLORS.length];
    const times = Object.values(r.claims ?? {}) as ClaimTimes[];
    const s = (f: (t: ClaimTimes) => number | undefined): number[] => times.map((t) => (f(t) ?? Number.NaN) / 1000);
    progress.push({
      label: `${label(r)} Bound`,
      color,
      points: cumulative(
        s((t) => t.bound),
        r.count,
      ),
    });
    progress.push({
      label: `${label(r)} PV created`,
      color,
      dashed: true,
      points: cumulative(
        s((t) => t.pvCreated),
        r.count,
      ),
    });
    cdf.push({
      label: label(r),
      color,
      points: cumulative(
        s((t) => (t.bound ?? Number.NaN) - t.created),
        r.count,
      ),
    });
    del.push({
      label: label(r),
      color,
      points: cumulative(
        s((t) => t.pvDeleted),
        r.count,
      ),
    });
    legend.push({ label: label(r), color, points: [] });
  });
  legend.push({ label: 'dashed: PVs created (left panel)', color: '#555', dashed: true, points: [] });
  const panels: Panel[] = [
    {
      title: 'Burst: PVCs Bound / PVs created',
      xLabel: 'seconds since the first PVC create',
      yLabel: '% of PVCs',
      xScale: 'linear',
      series: progress,
    },
    {
      title: 'Per-PVC latency, create → Bound (CDF)',
      xLabel: 'seconds (log scale)',
      yLabel: '% of PVCs',
      xScale: 'log',
      series: cdf,
    },
    {
      title: 'Delete all: PVs gone',
      xLabel: 'seconds since the PVC delete',
      yLabel: '% of PVs',
      xScale: 'linear',
      series: del,
    },
  ];
  return chartSvg('csi-provisioner: burst of PVCs on the local control plane', panels, legend);
}
