import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

// What every benchmark entry point needs: option parsing helpers, the machine description and the output files.

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  platform: string;
}

export function machineInfo(): Machine {
  const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? '?';
  return {
    nproc: cpus().length,
    cpu: cpuModel,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

export interface QpsSetting {
  qps: number;
  burst: number;
}

export function intArg(value: string, name: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`--${name} wants a whole number, got ${value}`);
  return Number(value);
}

/** `5/10,1000/2000` → QPS/burst pairs. */
export function qpsArg(value: string, name = 'qps'): QpsSetting[] {
  return value.split(',').map((pair) => {
    const [q, b] = pair.split('/');
    if (!q || !b || !(Number(q) > 0)) throw new Error(`--qps wants QPS/BURST pairs, got ${pair}`);
    return { qps: Number(q), burst: intArg(b, name) };
  });
}

/** `--key=value` → [key, value]; anything else is an error showing the usage. */
export function optionOf(arg: string, usage: string): [string, string] {
  const m = /^--([a-z-]+)=(.*)$/s.exec(arg);
  if (!m) throw new Error(`unknown argument ${arg}\n${usage}`);
  return [m[1], m[2]];
}

export interface Renderers<R> {
  report: (results: R) => string;
  chart: (results: R) => string;
}

/** Writes results.json, report.md and chart.svg into dir (after every scenario, so a long run can be inspected). */
export function writeOutputs<R>(dir: string, results: R, render: Renderers<R>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(join(dir, 'report.md'), render.report(results));
  writeFileSync(join(dir, 'chart.svg'), render.chart(results));
}

/** `--report=DIR`: rewrites DIR/report.md and DIR/chart.svg from DIR/results.json. */
export function rewriteReport<R>(dir: string, render: Renderers<R>): void {
  const saved = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as R;
  writeFileSync(join(dir, 'report.md'), render.report(saved));
  writeFileSync(join(dir, 'chart.svg'), render.chart(saved));
}
