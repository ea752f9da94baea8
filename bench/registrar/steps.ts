import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/shared/testing/sidecar-process.js';
import { cpuSeconds, hwmKiB, machineBusySeconds, openFds, resetPeakRss, rssKiB } from '../shared/proc.js';
import { SidecarUnderTest } from '../shared/sidecar-process.js';
import { round, sleep } from '../shared/stats.js';
import type { Driver, Implementation } from './implementations.js';
import type { KubeletHost } from './kubelet.js';
import type { LoadTiming } from './load.js';
import { httpGets, LineMatcher, registrationCalls, waitFor200, waitForAccept } from './load.js';

export interface StepOptions {
  driver: Driver;
  logDir: string;
  /** Idle time before and after the load (5 s). */
  settleMs: number;
  /** GetInfo, NotifyRegistrationStatus and /healthz calls each (10,000). */
  calls: number;
  /** Liveness probes of the layouts (200). */
  probes: number;
}

/** Kubelet accepted the plugin: both implementations log this (at the default level) with the status. */
const REGISTERED_LOG = /Received NotifyRegistrationStatus call.*plugin_registered:true/;

const mib = (kib: number): number => round(kib / 1024, 1);
const ms = (from: number, to: number): number => round(to - from, 1);

/** Upstream's flags, the same for every registrar. */
function registrarFlags(driver: Driver, registrationDir: string, httpPort?: number): string[] {
  return [
    `--csi-address=${driver.socket}`,
    // kubelet runs on this host: the host path of the driver socket is the socket itself.
    `--kubelet-registration-path=${driver.socket}`,
    `--plugin-registration-path=${registrationDir}`,
    ...(httpPort === undefined ? [] : [`--http-endpoint=127.0.0.1:${httpPort}`]),
  ];
}

let logSeq = 0;
function logFile(opts: StepOptions, name: string): string {
  logSeq++;
  return join(opts.logDir, `${String(logSeq).padStart(3, '0')}-${name}.log`);
}

/** SIGTERM (SIGKILL after 5 s) and how it ended. */
async function stopped(proc: SidecarUnderTest): Promise<string> {
  await proc.stop();
  return proc.exitStatus ?? '?';
}

export interface SocketRun {
  implementation: Implementation['id'];
  run: number;
  /** Spawn → `<dir>/<driver>-reg.sock` accepts a connection. */
  listenMs?: number;
  /** VmRSS at that moment. */
  rssMiB?: number;
  fds?: number;
  /** After SIGTERM. */
  exit?: string;
  socketRemovedOnExit?: boolean;
  /** The command line the kernel shows once it listens (ours: after its in-place restart with the lean flags). */
  cmdline?: string;
  error?: string;
}

/** Step 1: spawn → registration socket listening, in a fresh plain directory (no kubelet). */
export async function socketRun(impl: Implementation, run: number, opts: StepOptions): Promise<SocketRun> {
  const result: SocketRun = { implementation: impl.id, run };
  const dir = mkdtempSync(join(tmpdir(), 'regdir-'));
  const socket = join(dir, `${opts.driver.name}-reg.sock`);
  const flags = registrarFlags(opts.driver, dir);
  const started = performance.now();
  const proc = new SidecarUnderTest('registrar', impl.command, flags, logFile(opts, `listen-${impl.id}-${run}`));
  try {
    const at = await waitForAccept(socket, () => proc.assertRunning(), 30_000);
    result.listenMs = ms(started, at);
    result.rssMiB = mib(rssKiB(proc.pid));
    result.fds = openFds(proc.pid);
    const argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
    result.cmdline = argv.slice(0, argv.indexOf(flags[0])).join(' ');
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    result.exit = await stopped(proc);
    result.socketRemovedOnExit = !existsSync(socket);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

export interface ProcessSample {
  rssMiB: number;
  /** VmHWM: the kernel's peak RSS since start or since the last reset. */
  hwmMiB: number;
  fds: number;
  /** utime + stime since spawn. */
  cpuS: number;
}

function sample(pid: number): ProcessSample {
  return { rssMiB: mib(rssKiB(pid)), hwmMiB: mib(hwmKiB(pid)), fds: openFds(pid), cpuS: cpuSeconds(pid) };
}

export interface RegisteredRun {
  implementation: Implementation['id'];
  run: number;
  /** Spawn → the registrar logs NotifyRegistrationStatus with plugin_registered:true. */
  notifyLoggedMs?: number;
  /** Spawn → the CSINode lists the driver (watch event). */
  csiNodeListedMs?: number;
  /** Spawn → both (step 2). */
  registeredMs?: number;
  /** settleMs after registration (step 3). */
  idle?: ProcessSample;
  /** Step 4. */
  load?: {
    getInfo: LoadTiming;
    notify: LoadTiming;
    healthz: LoadTiming;
    /** The registrar's CPU seconds during the three loads. */
    cpuS: number;
    /** Busy seconds of all cores meanwhile (other load on the box shows here). */
    machineBusyS: number;
    wallS: number;
    /** VmHWM was reset to the current RSS before the load, so `after.hwmMiB` is the load's peak. */
    peakReset: boolean;
  };
  /** settleMs after the load. */
  after?: ProcessSample;
  /** after.rssMiB − idle.rssMiB. */
  growthMiB?: number;
  exit?: string;
  /** SIGTERM → the driver is gone from the CSINode. */
  deregisteredMs?: number;
  error?: string;
}

/**
 * Steps 2–4 on the hollow kubelet: spawn → registered (log line and CSINode), idle sample, the load on the
 * registration socket and /healthz, idle sample, SIGTERM → kubelet deregisters.
 */
export async function registeredRun(
  impl: Implementation,
  run: number,
  host: KubeletHost,
  opts: StepOptions,
): Promise<RegisteredRun> {
  const result: RegisteredRun = { implementation: impl.id, run };
  if (host.listed) return { ...result, error: 'the driver is still listed in the CSINode from the previous run' };
  const socket = join(host.registrationDir, `${opts.driver.name}-reg.sock`);
  const port = await freePort();
  const matcher = new LineMatcher({ registered: REGISTERED_LOG });
  const started = performance.now();
  const proc = new SidecarUnderTest(
    'registrar',
    impl.command,
    registrarFlags(opts.driver, host.registrationDir, port),
    logFile(opts, `registered-${impl.id}-${run}`),
    { onOutput: matcher.feed },
  );
  const check = (): void => proc.assertRunning();
  try {
    const listedAt = await host.waitListed(started, check, 60_000);
    const loggedAt = await waitForMatch(matcher, 'registered', check, 30_000);
    result.csiNodeListedMs = ms(started, listedAt);
    result.notifyLoggedMs = ms(started, loggedAt);
    result.registeredMs = ms(started, Math.max(listedAt, loggedAt));

    await sleep(opts.settleMs);
    result.idle = sample(proc.pid);

    const peakReset = resetPeakRss(proc.pid);
    const cpu0 = cpuSeconds(proc.pid);
    const busy0 = machineBusySeconds();
    const t0 = performance.now();
    const { getInfo, notify } = await registrationCalls(socket, opts.calls, opts.driver.name);
    const healthz = await httpGets(port, '/healthz', opts.calls);
    result.load = {
      getInfo,
      notify,
      healthz,
      cpuS: round(cpuSeconds(proc.pid) - cpu0, 2),
      machineBusyS: round(machineBusySeconds() - busy0, 2),
      wallS: round((performance.now() - t0) / 1000, 2),
      peakReset,
    };
    await sleep(opts.settleMs);
    result.after = sample(proc.pid);
    result.growthMiB = round(result.after.rssMiB - result.idle.rssMiB, 1);
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    const termAt = performance.now();
    const wasListed = host.listed;
    result.exit = await stopped(proc);
    if (wasListed) {
      try {
        result.deregisteredMs = ms(termAt, await host.waitGone(termAt, 60_000));
      } catch (err) {
        result.error ??= (err as Error).message;
      }
    }
  }
  return result;
}

async function waitForMatch(matcher: LineMatcher, key: string, check: () => void, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const at = matcher.firstAt.get(key);
    if (at !== undefined) return at;
    check();
    if (performance.now() > deadline) throw new Error(`no "${key}" log line after ${timeoutMs} ms`);
    await sleep(5);
  }
}

export type LayoutId = 'ours-one' | 'ours-two' | 'go-two';

export interface Layout {
  id: LayoutId;
  registrar: Implementation;
  /** A livenessprobe process next to the registrar; none: the registrar serves the probe itself. */
  livenessprobe?: Implementation;
}

export interface LayoutSample {
  /** Summed over the processes of the layout. */
  rssMiB: number;
  /** Per process: registrar, then livenessprobe. */
  perProcessMiB: number[];
  fds: number;
}

export interface LayoutRun {
  layout: LayoutId;
  run: number;
  processes: number;
  /** Spawn → registered (log line and CSINode). */
  registeredMs?: number;
  /** Spawn → the liveness endpoint answers 200. */
  livenessReadyMs?: number;
  /** settleMs after both. */
  idle?: LayoutSample;
  /** Right after the probes, one after the other. */
  afterProbes?: LayoutSample & {
    /** Summed VmHWM of the processes, reset before the probes: the peak of the probing. */
    hwmMiB: number;
    /** CPU seconds of the layout's processes for the probes. */
    cpuS: number;
    probes: LoadTiming;
  };
  /** settleMs after the probes. */
  settled?: LayoutSample;
  exit?: string[];
  error?: string;
}

function layoutSample(pids: number[]): LayoutSample {
  const perProcess = pids.map((pid) => rssKiB(pid));
  return {
    rssMiB: mib(perProcess.reduce((a, b) => a + b, 0)),
    perProcessMiB: perProcess.map(mib),
    fds: pids.reduce((sum, pid) => sum + openFds(pid), 0),
  };
}

/**
 * Step 5: the registrar (with --http-endpoint) and the driver's liveness probe, either served by our registrar
 * (--liveness-http-endpoint) or by a livenessprobe process (--http-endpoint), registered by the hollow kubelet.
 */
export async function layoutRun(layout: Layout, run: number, host: KubeletHost, opts: StepOptions): Promise<LayoutRun> {
  const result: LayoutRun = { layout: layout.id, run, processes: layout.livenessprobe ? 2 : 1 };
  if (host.listed) return { ...result, error: 'the driver is still listed in the CSINode from the previous run' };
  const httpPort = await freePort();
  const livenessPort = await freePort();
  const matcher = new LineMatcher({ registered: REGISTERED_LOG });
  const flags = registrarFlags(opts.driver, host.registrationDir, httpPort);
  if (!layout.livenessprobe) flags.push(`--liveness-http-endpoint=127.0.0.1:${livenessPort}`);
  const started = performance.now();
  const procs = [
    new SidecarUnderTest(
      'registrar',
      layout.registrar.command,
      flags,
      logFile(opts, `layout-${layout.id}-${run}-registrar`),
      { onOutput: matcher.feed },
    ),
  ];
  if (layout.livenessprobe) {
    procs.push(
      new SidecarUnderTest(
        'livenessprobe',
        layout.livenessprobe.command,
        [`--csi-address=${opts.driver.socket}`, `--http-endpoint=127.0.0.1:${livenessPort}`],
        logFile(opts, `layout-${layout.id}-${run}-livenessprobe`),
      ),
    );
  }
  const check = (): void => procs.forEach((p) => p.assertRunning());
  try {
    const readyAt = await waitFor200(livenessPort, '/healthz', check, 30_000);
    const listedAt = await host.waitListed(started, check, 60_000);
    const loggedAt = await waitForMatch(matcher, 'registered', check, 30_000);
    result.livenessReadyMs = ms(started, readyAt);
    result.registeredMs = ms(started, Math.max(listedAt, loggedAt));
    await sleep(opts.settleMs);
    const pids = procs.map((p) => p.pid);
    result.idle = layoutSample(pids);
    for (const pid of pids) resetPeakRss(pid);
    const cpu0 = pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
    const probes = await httpGets(livenessPort, '/healthz', opts.probes);
    result.afterProbes = {
      ...layoutSample(pids),
      hwmMiB: mib(pids.reduce((s, pid) => s + hwmKiB(pid), 0)),
      cpuS: round(pids.reduce((s, pid) => s + cpuSeconds(pid), 0) - cpu0, 2),
      probes,
    };
    await sleep(opts.settleMs);
    result.settled = layoutSample(pids);
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    const termAt = performance.now();
    const wasListed = host.listed;
    result.exit = await Promise.all(procs.map(stopped));
    if (wasListed) {
      try {
        await host.waitGone(termAt, 60_000);
      } catch (err) {
        result.error ??= (err as Error).message;
      }
    }
  }
  return result;
}
