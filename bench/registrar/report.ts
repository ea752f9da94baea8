import type { Machine } from '../shared/run.js';
import type { Spread } from '../shared/stats.js';
import { spread } from '../shared/stats.js';
import type { DriverKind, Implementation } from './implementations.js';
import { LABELS } from './implementations.js';
import type { LayoutId, LayoutRun, RegisteredRun, SocketRun } from './steps.js';

export interface RegistrarBenchResults {
  startedAt: string;
  finishedAt?: string;
  machine: Machine;
  /** The commit of the sources measured, `+dirty` with uncommitted changes (listed in dirtyFiles). */
  commit: string;
  dirtyFiles: string[];
  command: string;
  driver?: { kind: DriverKind; name: string; version: string };
  /** The registrars of steps 1–4, in run order. */
  implementations: Pick<Implementation, 'id' | 'display'>[];
  /** Step 5's layouts: the commands of each. */
  layouts: { id: LayoutId; registrar: string; livenessprobe?: string }[];
  settings: { runs: number; calls: number; probes: number; settleS: number };
  socket: SocketRun[];
  registered: RegisteredRun[];
  layoutRuns: LayoutRun[];
  /** Set-up failures (driver, cluster). */
  errors: string[];
}

export const LAYOUT_LABELS: Record<LayoutId, string> = {
  'ours-one': 'ours, one process: registrar `--liveness-http-endpoint`',
  'ours-two': 'ours, two processes: registrar + livenessprobe',
  'go-two': 'Go, two processes: registrar v2.17.0 + livenessprobe v2.19.0',
};

const label = (id: string): string => LABELS[id as Implementation['id']] ?? id;

function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '—';
}

/** `median (min–max)`; the median alone for one run; `—` without samples. */
function cell(s: Spread | undefined, digits = 1): string {
  if (!s) return '—';
  if (s.runs.length === 1 || s.min === s.max) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/** a / b of the medians as `1.23×`; blank when either is missing or b is 0. */
function ratio(a: Spread | undefined, b: Spread | undefined): string {
  if (!a || !b || b.median === 0) return '';
  return `${(a.median / b.median).toFixed(2)}×`;
}

interface Row<T> {
  figure: string;
  value: (r: T) => number | undefined;
  digits?: number;
  /** No ours/Go column (the figure is not the registrar's). */
  noRatio?: boolean;
}

function values<T>(runs: T[], f: (r: T) => number | undefined): number[] {
  return runs.map(f).filter((v): v is number => v !== undefined);
}

export function markdownReport(res: RegistrarBenchResults): string {
  const out: string[] = [];
  const { runs, calls, probes, settleS } = res.settings;
  const n = calls.toLocaleString('en-US');
  out.push('# csi-node-driver-registrar benchmark', '');
  out.push(
    `Machine: ${res.machine.nproc} cores (${res.machine.cpu}), ${res.machine.platform}, Node ${res.machine.node}. ` +
      `Started ${res.startedAt}${res.finishedAt ? `, finished ${res.finishedAt}` : ''}, commit ${res.commit}.`,
    '',
    `Command: \`${res.command}\``,
    '',
    `Driver: ${res.driver ? `${res.driver.kind} (\`${res.driver.name}\` ${res.driver.version})` : '?'}, one process for the whole run. ` +
      `Each figure: median of ${runs} run${runs === 1 ? '' : 's'} (min–max); ratios are of the medians.`,
    '',
    'Registrars (upstream flags `--csi-address --kubelet-registration-path --plugin-registration-path`, ' +
      'plus `--http-endpoint` on the hollow kubelet):',
    '',
    ...res.implementations.map((i) => `- ${label(i.id)}: \`${i.display}\``),
    '',
  );
  if (res.dirtyFiles.length > 0) {
    out.push(
      `Uncommitted changes to tracked files at the start: ${res.dirtyFiles.map((f) => `\`${f}\``).join(', ')}.`,
      '',
    );
  }
  const errors = [
    ...res.errors,
    ...res.socket.filter((r) => r.error).map((r) => `listen ${label(r.implementation)} run ${r.run}: ${r.error}`),
    ...res.registered.filter((r) => r.error).map((r) => `kubelet ${label(r.implementation)} run ${r.run}: ${r.error}`),
    ...res.layoutRuns.filter((r) => r.error).map((r) => `layout ${r.layout} run ${r.run}: ${r.error}`),
  ];
  if (errors.length > 0) out.push('## FAILURES', '', ...errors.map((e) => `- ${e.replace(/\n/g, ' ')}`), '');

  const ids = res.implementations.map((i) => i.id);
  const a = ids.find((id) => id !== 'go');
  const cmp = a !== undefined && ids.includes('go') ? { a, b: 'go' as const } : undefined;
  const header = [...ids.map(label), ...(cmp ? [`${label(cmp.a)}/Go`] : [])];

  const table = <T extends { implementation: string; error?: string }>(runsOf: T[], rows: Row<T>[]): void => {
    out.push(`| figure | ${header.join(' | ')} |`, `| --- | ${header.map(() => '---:').join(' | ')} |`);
    for (const row of rows) {
      const spreads = ids.map((id) =>
        spread(
          values(
            runsOf.filter((r) => r.implementation === id),
            row.value,
          ),
        ),
      );
      const cells = spreads.map((s) => cell(s, row.digits ?? 1));
      if (cmp) cells.push(row.noRatio ? '' : ratio(spreads[ids.indexOf(cmp.a)], spreads[ids.indexOf(cmp.b)]));
      out.push(`| ${row.figure} | ${cells.join(' | ')} |`);
    }
    out.push('');
  };

  out.push(
    '## Start-up without kubelet (step 1)',
    '',
    'Spawn → `<dir>/<driver>-reg.sock` accepts a connection, in a fresh plain directory; RSS and fds at that moment.',
    '',
  );
  table(res.socket, [
    { figure: 'spawn → registration socket accepts (ms)', value: (r) => r.listenMs },
    { figure: 'RSS then (MiB)', value: (r) => r.rssMiB },
    { figure: 'open fds then', value: (r) => r.fds, digits: 0 },
  ]);
  const socketExits = [...new Set(res.socket.map((r) => `${label(r.implementation)}: ${r.exit}`))];
  const leftSockets = res.socket.filter((r) => r.socketRemovedOnExit === false).length;
  const cmdlines = [
    ...new Set(res.socket.filter((r) => r.cmdline).map((r) => `${label(r.implementation)}: \`${r.cmdline}\``)),
  ];
  if (cmdlines.length > 0) out.push(`Command lines while listening: ${cmdlines.join('; ')}.`, '');
  out.push(
    `After SIGTERM: ${socketExits.join('; ')}; registration socket left behind in ${leftSockets} of ${res.socket.length} runs.`,
    '',
  );

  out.push(
    '## On a hollow kubelet (steps 2–4)',
    '',
    `Spawn → registered = the registrar logs NotifyRegistrationStatus with plugin_registered:true **and** the ` +
      `CSINode lists the driver. Idle = ${settleS} s after that. Load = ${n} GetInfo + ${n} ` +
      `NotifyRegistrationStatus(true) calls on the registration socket (one connection, one call at a time), then ` +
      `${n} \`/healthz\` requests (one keep-alive connection, one at a time); VmHWM is reset just before it, so ` +
      `"peak" is the load's; "after" is ${settleS} s after the load. Kubelet's plugin manager registers new ` +
      'sockets from a reconcile loop that runs once a second, so "registered" carries up to 1 s of its timing.',
    '',
  );
  table(res.registered, [
    { figure: 'spawn → registered (ms)', value: (r) => r.registeredMs, digits: 0 },
    { figure: 'spawn → NotifyRegistrationStatus(true) logged (ms)', value: (r) => r.notifyLoggedMs, digits: 0 },
    { figure: 'spawn → the CSINode lists the driver (ms)', value: (r) => r.csiNodeListedMs, digits: 0 },
    { figure: `**idle RSS, ${settleS} s after registration (MiB)**`, value: (r) => r.idle?.rssMiB },
    { figure: 'idle open fds', value: (r) => r.idle?.fds, digits: 0 },
    { figure: 'CPU s from spawn to the idle sample', value: (r) => r.idle?.cpuS, digits: 2 },
    { figure: 'load: peak RSS, VmHWM (MiB)', value: (r) => r.after?.hwmMiB },
    { figure: `**load: RSS ${settleS} s after (MiB)**`, value: (r) => r.after?.rssMiB },
    { figure: 'load: growth, after − idle (MiB)', value: (r) => r.growthMiB },
    { figure: 'load: open fds after', value: (r) => r.after?.fds, digits: 0 },
    {
      figure: `**load: CPU s for ${(3 * calls).toLocaleString('en-US')} calls**`,
      value: (r) => r.load?.cpuS,
      digits: 2,
    },
    { figure: `load: ${n} GetInfo (s)`, value: (r) => r.load?.getInfo.seconds, digits: 2 },
    { figure: `load: ${n} NotifyRegistrationStatus (s)`, value: (r) => r.load?.notify.seconds, digits: 2 },
    { figure: `load: ${n} /healthz (s)`, value: (r) => r.load?.healthz.seconds, digits: 2 },
    {
      figure: 'load: busy core-seconds of the whole machine meanwhile',
      value: (r) => r.load?.machineBusyS,
      digits: 1,
      noRatio: true,
    },
    { figure: 'SIGTERM → driver gone from the CSINode (ms)', value: (r) => r.deregisteredMs, digits: 0 },
  ]);
  const failedCalls = res.registered.flatMap((r) =>
    r.load
      ? (['getInfo', 'notify', 'healthz'] as const)
          .filter((k) => r.load?.[k].failures)
          .map(
            (k) =>
              `${label(r.implementation)} run ${r.run} ${k}: ${r.load?.[k].failures} (${r.load?.[k].firstFailure})`,
          )
      : [],
  );
  out.push(failedCalls.length > 0 ? `Failed calls: ${failedCalls.join('; ')}.` : 'No call of the load failed.', '');
  if (res.registered.some((r) => r.load && !r.load.peakReset)) {
    out.push('VmHWM could not be reset (clear_refs refused): "peak" includes start-up.', '');
  }

  if (res.layoutRuns.length > 0) {
    out.push(
      '## One process or two (step 5)',
      '',
      `The registrar (\`--http-endpoint\`) and the driver's liveness probe, served by our registrar ` +
        `(\`--liveness-http-endpoint\`) or by a livenessprobe process (\`--http-endpoint\`); registered by the ` +
        `hollow kubelet. RSS and fds summed over the layout's processes: idle ${settleS} s after registration, ` +
        `then right after ${probes} liveness \`/healthz\` probes (one at a time; each calls the driver's Probe), ` +
        `their peak (VmHWM reset before), and ${settleS} s later.`,
      '',
    );
    const layoutIds = [...new Set(res.layoutRuns.map((r) => r.layout))];
    const go = res.layoutRuns.filter((r) => r.layout === 'go-two');
    const s = (rs: LayoutRun[], f: (r: LayoutRun) => number | undefined): Spread | undefined => spread(values(rs, f));
    out.push(
      `| layout | processes | RSS idle (MiB) | registrar + livenessprobe idle (MiB) | RSS after ${probes} probes (MiB) | registrar + livenessprobe after (MiB) | peak (MiB) | ${settleS} s later (MiB) | fds idle / after | CPU s for ${probes} probes | spawn → liveness 200 (ms) | spawn → registered (ms) | RSS idle / after vs Go |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const id of layoutIds) {
      const rs = res.layoutRuns.filter((r) => r.layout === id);
      const idle = s(rs, (r) => r.idle?.rssMiB);
      const after = s(rs, (r) => r.afterProbes?.rssMiB);
      const per = (f: (r: LayoutRun) => number[] | undefined): string =>
        [0, 1]
          .map((i) => s(rs, (r) => f(r)?.[i]))
          .filter((v) => v !== undefined)
          .map((v) => fmt(v.median, 1))
          .join(' + ');
      const vsGo =
        id === 'go-two'
          ? ''
          : `${ratio(
              idle,
              s(go, (r) => r.idle?.rssMiB),
            )} / ${ratio(
              after,
              s(go, (r) => r.afterProbes?.rssMiB),
            )}`;
      out.push(
        `| ${LAYOUT_LABELS[id]} | ${rs[0].processes} | ${cell(idle)} | ${per((r) => r.idle?.perProcessMiB)} | ${cell(after)} | ${per((r) => r.afterProbes?.perProcessMiB)} | ${cell(s(rs, (r) => r.afterProbes?.hwmMiB))} | ${cell(s(rs, (r) => r.settled?.rssMiB))} | ${cell(
          s(rs, (r) => r.idle?.fds),
          0,
        )} / ${cell(
          s(rs, (r) => r.afterProbes?.fds),
          0,
        )} | ${cell(
          s(rs, (r) => r.afterProbes?.cpuS),
          2,
        )} | ${cell(
          s(rs, (r) => r.livenessReadyMs),
          0,
        )} | ${cell(
          s(rs, (r) => r.registeredMs),
          0,
        )} | ${vsGo} |`,
      );
    }
    out.push('');
    out.push(
      ...res.layouts.map(
        (l) =>
          `- ${l.id}: registrar \`${l.registrar}\`${l.livenessprobe ? `, livenessprobe \`${l.livenessprobe}\`` : ''}`,
      ),
      '',
    );
  }
  return `${out.join('\n')}\n`;
}
