import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoPath } from '../fixture/binaries.js';
import { mountsUnder } from '../fixture/hostpath.js';

// `npm start` without the builds in front of it: the entry e2e/demo/start.ts as a child process, as the npm script
// runs it. Each run starts its own control plane, node, hostpath driver and sidecars, prints its steps and tears all
// of it down, by itself (--exit-when-ready) or on a signal.

const stamp = String.raw`^\[\d\d:\d\d:\d\d\.\d{3} \+\s*\d+\.\d+s\] `;
/** The step lines, in the order they must appear. */
const steps = [
  /control plane up at https:\/\/127\.0\.0\.1:\d+ \(etcd \d+ ms, kube-apiserver \d+ ms, kube-controller-manager \d+ ms, kube-scheduler \d+ ms\)$/,
  /CSIDriver hostpath\.csi\.k8s\.io applied from manifests\/examples\/csidriver-hostpath\.yaml$/,
  /hollow kubelet node demo-node Ready/,
  /hostpath driver listening on \/\S+\/csi\.sock$/,
  /sidecars started: csi-provisioner, csi-attacher, livenessprobe \(controller side\); csi-node-driver-registrar, livenessprobe \(node side\)$/,
  /node registered: CSINode demo-node lists hostpath\.csi\.k8s\.io \(node ID demo-node, topology topology\.hostpath\.csi\/node, attach limit 4\)$/,
  /applied StorageClass hostpath-wffc \(WaitForFirstConsumer\), claim demo\/demo-data \(1Gi\), pod demo\/demo-app$/,
  /claim provisioned: PV pvc-[0-9a-f-]{36} \(volume [0-9a-f-]{36} on hostpath\)$/,
  /claim demo\/demo-data Bound to pvc-[0-9a-f-]{36} \(selected node demo-node\)$/,
  /VolumeAttachment csi-[0-9a-f]{64} attached \(pvc-[0-9a-f-]{36} on demo-node\)$/,
  /probes healthy: livenessprobe \(controller\) 200, livenessprobe \(node\) 200, csi-node-driver-registrar 200$/,
];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the start entry; with `signal`, sends it once the ready line is printed. */
function runStart(args: string[], signal?: NodeJS.Signals): Promise<Run> {
  const child = spawn(process.execPath, [repoPath('scripts', 'run-ts.mjs'), 'e2e/demo/start.ts', ...args], {
    cwd: repoPath(),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: undefined },
  });
  let output = '';
  let signalled = false;
  const onData = (d: Buffer): void => {
    output += d.toString();
    if (signal && !signalled && /\] ready; Ctrl-C/.test(output)) {
      signalled = true;
      child.kill(signal);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve) => child.once('close', (code, sig) => resolve({ code, signal: sig, output })));
}

function isAlive(pid: number): boolean {
  try {
    // A zombie is dead for this purpose: it holds no socket, mount or file.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Processes (other than zombies) whose command line mentions path. */
function processesMentioning(path: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(path) && isAlive(Number(entry))) found.push(`${entry}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function checkRun(run: Run, lastLine: RegExp): void {
  expect(run.code, run.output).toBe(0);
  const lines = run.output.split('\n');
  const stepLines = lines.filter((l) => new RegExp(stamp).test(l)).map((l) => l.replace(new RegExp(stamp), ''));
  // Every step, in order, one line each.
  let at = 0;
  for (const pattern of steps) {
    const found = stepLines.findIndex((l, i) => i >= at && pattern.test(l));
    expect(found, `${pattern} after line ${at} in:\n${run.output}`).toBeGreaterThanOrEqual(0);
    at = found + 1;
  }
  expect(stepLines.at(-1)).toMatch(lastLine);

  const text = run.output;
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(text)?.[1] ?? '';
  const dir = /temp dir: (\S+) \(hollow kubelet root: (\S+)\)/.exec(text);
  expect(dir, text).not.toBeNull();
  const [, tempDir, kubeletRoot] = dir ?? [];
  expect(kubeconfig).toBe(`${tempDir}/admin.kubeconfig`);
  for (const name of ['etcd', 'kube-apiserver', 'csi-provisioner', 'csi-node-driver-registrar', 'livenessprobe-node']) {
    expect(text).toContain(`${tempDir}/logs/${name}.log`);
  }
  expect(text).toMatch(/csi-provisioner\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
  expect(text).toMatch(/livenessprobe \(controller\)\s+http:\/\/127\.0\.0\.1:\d+\/healthz/);
  const pids = (/pids: ([\d ]+)/.exec(text)?.[1] ?? '').trim().split(' ').map(Number);
  // etcd, kube-apiserver, KCM, kube-scheduler, kubemark, hostpath and five sidecars.
  expect(pids).toHaveLength(11);

  // Teardown: no process left, no temp dir, no socket in it, nothing mounted.
  expect(pids.filter(isAlive)).toEqual([]);
  expect(processesMentioning(tempDir)).toEqual([]);
  expect(existsSync(tempDir)).toBe(false);
  expect(existsSync(kubeletRoot)).toBe(false);
  expect(mountsUnder(tempDir)).toEqual([]);
  expect(mountsUnder(kubeletRoot)).toEqual([]);
}

describe('npm start (e2e/demo/start.ts)', () => {
  it('builds dist/ as the npm script does', () => {
    execFileSync(process.execPath, [repoPath('scripts', 'build.mjs')], { cwd: repoPath(), stdio: 'ignore' });
  }, 120_000);

  it('--exit-when-ready: prints every step, the kubeconfig, logs and URLs, then tears everything down', async () => {
    const run = await runStart(['--exit-when-ready']);
    checkRun(run, /^stopped; temp dir removed$/);
    expect(run.output).toMatch(/\] ready \(--exit-when-ready: stopping\)\n/);
  }, 240_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stays up until ${signal}, then tears everything down and exits 0`, async () => {
      const run = await runStart([], signal);
      checkRun(run, /^stopped; temp dir removed$/);
      expect(run.output).toContain(`] ${signal}: stopping everything…`);
    }, 240_000);
  }
});
