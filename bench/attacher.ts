// csi-attacher benchmark on the local control plane (e2e/fixture/cluster.ts: etcd, kube-apiserver, KCM, the
// Kubernetes e2e mock CSI driver). `npm run bench:attacher -- --help` for the options; bench/README.md for the
// method and what each number means. Writes results.json, report.md and chart.svg to --out.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { implementations } from './attacher/implementations.js';
import type { AttacherBenchResults } from './attacher/report.js';
import { chart, markdownReport } from './attacher/report.js';
import { runMemory } from './attacher/memory.js';
import { runCell } from './attacher/scenario.js';
import {
  applyCommonOption,
  commitOf,
  commonDefaults,
  intArg,
  machineInfo,
  optionOf,
  rewriteReport,
  writeOutputs,
} from './shared/run.js';
import type { CommonOptions } from './shared/run.js';

const USAGE = `npm run bench:attacher -- [options]
  --attacher-cmd="CMD"      attacher command; upstream flags are appended (default: node + a fresh bundle of src/)
  --compare-go              run every cell and the memory scenario with the Go csi-attacher v4.12.0 too, right
                            after the first attacher (binary from bash e2e/infra/build.sh)
  --counts=100,1000         VolumeAttachments per burst (N)
  --qps=5/10,1000/2000      --kube-api-qps/--kube-api-burst settings
  --new-during-detach=10    M: VolumeAttachments created while N are detached (0: skip that phase)
  --new-after-ms=0          create the M that long after the delete of the N (0: at the same moment)
  --memory-volumes=10000    attached VolumeAttachments (+ PVs) for the memory scenario (0: skip)
  --workers=10              the attacher's --worker-threads (upstream's default)
  --concurrency=16          requests in flight from the admin client
  --stall-timeout=60        seconds without progress before a stage fails
  --timeout=15s             the attacher's --timeout
  --out=bench/results-attacher   output directory
  --quick                   = --counts=100 --memory-volumes=1000
  --report=DIR              only rewrite DIR/report.md and DIR/chart.svg from DIR/results.json`;

interface Options extends CommonOptions {
  attacherCmd?: string;
  compareGo: boolean;
  newDuringDetach: number;
  newAfterMs: number;
  workers: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    ...commonDefaults('bench/results-attacher'),
    compareGo: false,
    newDuringDetach: 10,
    newAfterMs: 0,
    workers: 10,
  };
  for (const arg of argv) {
    if (applyCommonOption(opts, arg, USAGE)) continue;
    if (arg === '--compare-go') {
      opts.compareGo = true;
      continue;
    }
    const [key, value] = optionOf(arg, USAGE);
    switch (key) {
      case 'attacher-cmd':
        opts.attacherCmd = value;
        break;
      case 'new-during-detach':
        opts.newDuringDetach = intArg(value, key);
        break;
      case 'new-after-ms':
        opts.newAfterMs = intArg(value, key);
        break;
      case 'workers':
        opts.workers = intArg(value, key);
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
    rewriteReport<AttacherBenchResults>(opts.reportOnly, render);
    return 0;
  }
  mkdirSync(join(opts.out, 'logs'), { recursive: true });
  const impls = await implementations({ attacherCmd: opts.attacherCmd, compareGo: opts.compareGo });
  const results: AttacherBenchResults = {
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    commit: commitOf(),
    command: ['npm run bench:attacher --', ...argv].join(' '),
    implementations: impls.map(({ id, display }) => ({ id, display })),
    settings: {
      counts: opts.counts,
      qps: opts.qps,
      newDuringDetach: opts.newDuringDetach,
      newAfterMs: opts.newAfterMs,
      memoryVolumes: opts.memoryVolumes,
      workers: opts.workers,
      concurrency: opts.concurrency,
      stallTimeoutS: opts.stallS,
      timeout: opts.timeout,
    },
    cells: [],
  };
  // Written after every scenario, so a long run can be inspected (and survives a late failure).
  const write = (): void => writeOutputs(opts.out, results, render);
  const common = {
    outDir: opts.out,
    concurrency: opts.concurrency,
    stallMs: opts.stallS * 1000,
    timeout: opts.timeout,
    workers: opts.workers,
  };
  for (const { qps, burst } of opts.qps) {
    for (const count of opts.counts) {
      // Each attacher right after the other, so both see the box in the same state.
      for (const impl of impls) {
        results.cells.push(
          await runCell(
            { ...common, count, qps, burst, newDuringDetach: opts.newDuringDetach, newAfterMs: opts.newAfterMs },
            impl,
          ),
        );
        write();
      }
    }
  }
  if (opts.memoryVolumes > 0) {
    results.memory = await runMemory({ ...common, volumes: opts.memoryVolumes, settleMs: 5_000 }, impls);
    write();
  }
  console.log(`\n${markdownReport(results)}`);
  console.log(`wrote ${join(opts.out, 'results.json')}, report.md, chart.svg`);
  const failed = results.cells.some((r) => r.error) || results.memory?.error !== undefined;
  return failed ? 1 : 0;
}

// Exit explicitly: a leftover keep-alive socket or timer must not hold a finished run open.
process.exit(await main());
