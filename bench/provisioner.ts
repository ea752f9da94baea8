// csi-provisioner benchmark on the local control plane (e2e/fixture/cluster.ts: etcd, kube-apiserver, KCM, the
// Kubernetes e2e mock CSI driver). `npm run bench -- --help` for the options; bench/README.md for the method and
// what each number means. Writes results.json, report.md and chart.svg to --out.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bundleSidecar } from '../src/shared/testing/sidecar-bundle.js';
import type { MemoryResult } from './provisioner/memory.js';
import { runMemory } from './provisioner/memory.js';
import type { BenchResults } from './provisioner/report.js';
import { chart, markdownReport } from './provisioner/report.js';
import { runThroughput } from './provisioner/scenario.js';
import {
  applyCommonOption,
  commonDefaults,
  intArg,
  machineInfo,
  optionOf,
  rewriteReport,
  writeOutputs,
} from './shared/run.js';
import type { CommonOptions } from './shared/run.js';
import { splitCommand } from './shared/sidecar-process.js';

const USAGE = `npm run bench -- [options]
  --provisioner-cmd="CMD"   provisioner command; upstream flags are appended (default: node + a fresh bundle of src/)
  --counts=100,1000         PVCs per burst
  --qps=5/10,1000/2000      --kube-api-qps/--kube-api-burst settings
  --memory-volumes=10000    PV+PVC pairs for the memory scenario (0: skip)
  --floor-volumes=500       PVs of the raw-create floor on each cluster
  --concurrency=16          requests in flight from the admin client
  --stall-timeout=60        seconds without progress before a stage fails
  --timeout=15s             the provisioner's --timeout
  --out=bench/results       output directory
  --quick                   = --counts=100 --memory-volumes=1000
  --report=DIR              only rewrite DIR/report.md and DIR/chart.svg from DIR/results.json`;

interface Options extends CommonOptions {
  provisionerCmd?: string;
  floorVolumes: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { ...commonDefaults('bench/results'), floorVolumes: 500 };
  for (const arg of argv) {
    if (applyCommonOption(opts, arg, USAGE)) continue;
    const [key, value] = optionOf(arg, USAGE);
    switch (key) {
      case 'provisioner-cmd':
        opts.provisionerCmd = value;
        break;
      case 'floor-volumes':
        opts.floorVolumes = intArg(value, key);
        break;
      default:
        throw new Error(`unknown option --${key}\n${USAGE}`);
    }
  }
  return opts;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  const render = { report: markdownReport, chart };
  if (opts.reportOnly !== undefined) {
    rewriteReport<BenchResults>(opts.reportOnly, render);
    return 0;
  }
  mkdirSync(join(opts.out, 'logs'), { recursive: true });
  // The default measures the current sources, bundled exactly as `npm run build` does, on this Node.
  const provisionerCmd = opts.provisionerCmd ?? `${process.execPath} ${await bundleSidecar('csi-provisioner')}`;
  const command = splitCommand(provisionerCmd);
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    command: ['npm run bench --', ...argv].join(' '),
    provisionerCommand: opts.provisionerCmd ?? 'node <fresh bundle of src/external-provisioner>',
    settings: {
      counts: opts.counts,
      qps: opts.qps,
      memoryVolumes: opts.memoryVolumes,
      floorVolumes: opts.floorVolumes,
      concurrency: opts.concurrency,
      stallTimeoutS: opts.stallS,
      timeout: opts.timeout,
    },
    throughput: [],
  };
  // Written after every scenario, so a long run can be inspected (and survives a late failure).
  const write = (): void => writeOutputs(opts.out, results, render);
  const common = {
    command,
    outDir: opts.out,
    concurrency: opts.concurrency,
    stallMs: opts.stallS * 1000,
    timeout: opts.timeout,
  };
  for (const { qps, burst } of opts.qps) {
    for (const count of opts.counts) {
      results.throughput.push(await runThroughput({ ...common, count, qps, burst, floorVolumes: opts.floorVolumes }));
      write();
    }
  }
  let memory: MemoryResult | undefined;
  if (opts.memoryVolumes > 0) {
    memory = await runMemory({ ...common, volumes: opts.memoryVolumes, settleMs: 5_000 });
    results.memory = memory;
    write();
  }
  console.log(`\n${markdownReport(results)}`);
  console.log(`wrote ${join(opts.out, 'results.json')}, report.md, chart.svg`);
  const failed = results.throughput.some((r) => r.error) || memory?.error !== undefined;
  return failed ? 1 : 0;
}

// Exit explicitly: a leftover keep-alive socket or timer must not hold a finished run open.
process.exit(await main());
