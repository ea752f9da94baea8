// csi-node-driver-registrar footprint, ours and the Go v2.17.0 side by side, and the one-process layout (our
// registrar serving the driver's liveness probe) against registrar + livenessprobe. `npm run bench:registrar --
// --help` for the options; bench/README.md for the method. Writes results.json and report.md to --out.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DriverKind } from './registrar/implementations.js';
import { defaultDriver, resolveBinaries, startDriver } from './registrar/implementations.js';
import type { Driver } from './registrar/implementations.js';
import { KubeletHost } from './registrar/kubelet.js';
import type { RegistrarBenchResults } from './registrar/report.js';
import { markdownReport } from './registrar/report.js';
import type { Layout, StepOptions } from './registrar/steps.js';
import { layoutRun, registeredRun, socketRun } from './registrar/steps.js';
import { commitOf, dirtyFiles, intArg, machineInfo, optionOf, rewriteReport, writeOutputs } from './shared/run.js';

const USAGE = `npm run bench:registrar -- [options]
  --registrar-cmd="CMD"          registrar for steps 1-4 instead of ours; upstream flags are appended
  --go-registrar-cmd="CMD"       the Go registrar (default: go-csi-node-driver-registrar of bash e2e/infra/build.sh)
  --go-livenessprobe-cmd="CMD"   the Go livenessprobe (default: go-livenessprobe of the same cache dir)
  --driver=hostpath|mock         CSI driver (default: hostpath when the cache dir has hostpathplugin)
  --runs=3                       repetitions of every cell (median and range are reported)
  --calls=10000                  GetInfo, NotifyRegistrationStatus and /healthz calls of the load, each
  --probes=200                   liveness probes per layout run
  --settle=5                     idle seconds before each sample
  --no-layouts                   skip step 5 (one process vs two)
  --out=bench/results-registrar  output directory
  --quick                        = --runs=1 --calls=1000
  --report=DIR                   only rewrite DIR/report.md from DIR/results.json`;

interface Options {
  registrarCmd?: string;
  goRegistrarCmd?: string;
  goLivenessprobeCmd?: string;
  driver?: DriverKind;
  runs: number;
  calls: number;
  probes: number;
  settleS: number;
  layouts: boolean;
  out: string;
  reportOnly?: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    runs: 3,
    calls: 10_000,
    probes: 200,
    settleS: 5,
    layouts: true,
    out: 'bench/results-registrar',
  };
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (arg === '--quick') {
      opts.runs = 1;
      opts.calls = 1000;
      continue;
    }
    if (arg === '--no-layouts') {
      opts.layouts = false;
      continue;
    }
    const [key, value] = optionOf(arg, USAGE);
    switch (key) {
      case 'registrar-cmd':
        opts.registrarCmd = value;
        break;
      case 'go-registrar-cmd':
        opts.goRegistrarCmd = value;
        break;
      case 'go-livenessprobe-cmd':
        opts.goLivenessprobeCmd = value;
        break;
      case 'driver':
        if (value !== 'hostpath' && value !== 'mock') throw new Error(`--driver wants hostpath or mock\n${USAGE}`);
        opts.driver = value;
        break;
      case 'runs':
        opts.runs = intArg(value, key);
        break;
      case 'calls':
        opts.calls = intArg(value, key);
        break;
      case 'probes':
        opts.probes = intArg(value, key);
        break;
      case 'settle':
        opts.settleS = intArg(value, key);
        break;
      case 'out':
        opts.out = value;
        break;
      case 'report':
        opts.reportOnly = value;
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
  const render = { report: markdownReport };
  if (opts.reportOnly !== undefined) {
    rewriteReport<RegistrarBenchResults>(opts.reportOnly, render);
    return 0;
  }
  const logDir = join(opts.out, 'logs');
  mkdirSync(logDir, { recursive: true });
  const bins = await resolveBinaries(opts);
  const layouts: Layout[] = [
    { id: 'ours-one', registrar: bins.ours.registrar },
    { id: 'ours-two', registrar: bins.ours.registrar, livenessprobe: bins.ours.livenessprobe },
    { id: 'go-two', registrar: bins.go.registrar, livenessprobe: bins.go.livenessprobe },
  ];
  const results: RegistrarBenchResults = {
    startedAt: new Date().toISOString(),
    machine: machineInfo(),
    commit: commitOf(),
    dirtyFiles: dirtyFiles(),
    command: ['npm run bench:registrar --', ...argv].join(' '),
    implementations: bins.registrars.map(({ id, display }) => ({ id, display })),
    layouts: opts.layouts
      ? layouts.map((l) => ({ id: l.id, registrar: l.registrar.display, livenessprobe: l.livenessprobe?.display }))
      : [],
    settings: { runs: opts.runs, calls: opts.calls, probes: opts.probes, settleS: opts.settleS },
    socket: [],
    registered: [],
    layoutRuns: [],
    errors: [],
  };
  const write = (): void => writeOutputs(opts.out, results, render);
  const progress = (text: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

  let driver: Driver | undefined;
  let host: KubeletHost | undefined;
  try {
    driver = await startDriver(opts.driver ?? defaultDriver(), logDir);
    results.driver = { kind: driver.kind, name: driver.name, version: driver.version };
    progress(`driver ${driver.kind} (${driver.name} ${driver.version}) on ${driver.socket}`);
    const step: StepOptions = {
      driver,
      logDir,
      settleMs: opts.settleS * 1000,
      calls: opts.calls,
      probes: opts.probes,
    };
    // Runs alternate between the implementations, so a change in the box's load hits both alike.
    for (let run = 1; run <= opts.runs; run++) {
      for (const impl of bins.registrars) {
        const r = await socketRun(impl, run, step);
        results.socket.push(r);
        progress(`listen ${impl.id} run ${run}: ${r.error ?? `${r.listenMs} ms, ${r.rssMiB} MiB`}`);
      }
    }
    write();
    progress('starting the control plane and the hollow kubelet');
    host = await KubeletHost.start(driver.name);
    for (let run = 1; run <= opts.runs; run++) {
      for (const impl of bins.registrars) {
        const r = await registeredRun(impl, run, host, step);
        results.registered.push(r);
        write();
        progress(
          `kubelet ${impl.id} run ${run}: ${r.error ?? `registered ${r.registeredMs} ms, idle ${r.idle?.rssMiB} MiB, after load ${r.after?.rssMiB} MiB (peak ${r.after?.hwmMiB}), load CPU ${r.load?.cpuS} s`}`,
        );
      }
    }
    if (opts.layouts) {
      for (let run = 1; run <= opts.runs; run++) {
        for (const layout of layouts) {
          const r = await layoutRun(layout, run, host, step);
          results.layoutRuns.push(r);
          write();
          progress(
            `layout ${layout.id} run ${run}: ${r.error ?? `idle ${r.idle?.rssMiB} MiB, after ${opts.probes} probes ${r.afterProbes?.rssMiB} MiB`}`,
          );
        }
      }
    }
  } catch (err) {
    results.errors.push((err as Error).stack ?? String(err));
  } finally {
    await host?.stop(logDir);
    await driver?.stop();
  }
  results.finishedAt = new Date().toISOString();
  write();
  console.log(`\n${markdownReport(results)}`);
  console.log(`wrote ${join(opts.out, 'results.json')}, report.md`);
  const failed =
    results.errors.length > 0 ||
    [...results.socket, ...results.registered, ...results.layoutRuns].some((r) => r.error !== undefined);
  return failed ? 1 : 0;
}

// Exit explicitly: a leftover keep-alive socket or timer must not hold a finished run open.
process.exit(await main());
