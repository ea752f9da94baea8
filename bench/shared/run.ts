import { execFileSync } from 'node:child_process';
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
  /** A bench without a chart leaves it out: no chart.svg is written. */
  chart?: (results: R) => string;
}

/** Writes results.json, report.md and chart.svg into dir (after every scenario, so a long run can be inspected). */
export function writeOutputs<R>(dir: string, results: R, render: Renderers<R>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(join(dir, 'report.md'), render.report(results));
  if (render.chart) writeFileSync(join(dir, 'chart.svg'), render.chart(results));
}

/** `--report=DIR`: rewrites DIR/report.md and DIR/chart.svg from DIR/results.json. */
export function rewriteReport<R>(dir: string, render: Renderers<R>): void {
  const saved = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as R;
  writeFileSync(join(dir, 'report.md'), render.report(saved));
  if (render.chart) writeFileSync(join(dir, 'chart.svg'), render.chart(saved));
}

/** The commit measured: HEAD, `+dirty` when tracked files differ from it. */
export function commitOf(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return '?';
  }
}

/** Tracked files that differ from HEAD (what `+dirty` in commitOf stands for). */
export function dirtyFiles(): string[] {
  try {
    return execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.slice(3).trim())
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}

/** The options every sidecar bench takes: cells, QPS settings, memory scenario, load and output. */
export interface CommonOptions {
  counts: number[];
  qps: QpsSetting[];
  memoryVolumes: number;
  concurrency: number;
  stallS: number;
  timeout: string;
  out: string;
  reportOnly?: string;
}

export function commonDefaults(out: string): CommonOptions {
  return {
    counts: [100, 1000],
    qps: [
      { qps: 5, burst: 10 },
      { qps: 1000, burst: 2000 },
    ],
    memoryVolumes: 10_000,
    concurrency: 16,
    stallS: 60,
    timeout: '15s',
    out,
  };
}

/**
 * Applies one shared option (`--help` and `--quick` included); false when arg is the bench's own, which it then
 * parses itself.
 */
export function applyCommonOption(opts: CommonOptions, arg: string, usage: string): boolean {
  if (arg === '--help' || arg === '-h') {
    console.log(usage);
    process.exit(0);
  }
  if (arg === '--quick') {
    opts.counts = [100];
    opts.memoryVolumes = 1000;
    return true;
  }
  if (!arg.startsWith('--') || !arg.includes('=')) return false;
  const [key, value] = optionOf(arg, usage);
  switch (key) {
    case 'counts':
      opts.counts = value.split(',').map((v) => intArg(v, key));
      return true;
    case 'qps':
      opts.qps = qpsArg(value, key);
      return true;
    case 'memory-volumes':
      opts.memoryVolumes = intArg(value, key);
      return true;
    case 'concurrency':
      opts.concurrency = intArg(value, key);
      return true;
    case 'stall-timeout':
      opts.stallS = intArg(value, key);
      return true;
    case 'timeout':
      opts.timeout = value;
      return true;
    case 'out':
      opts.out = value;
      return true;
    case 'report':
      opts.reportOnly = value;
      return true;
    default:
      return false;
  }
}
