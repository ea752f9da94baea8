// Informer cache memory for csi-provisioner's PV and PVC caches. Run through npm run bench:provisioner-memory,
// which bundles this file. The parent serves N bound PV/PVC pairs (bench-realistic objects with
// managedFields, src/external-provisioner/testing/realistic-objects.ts) from the fake apiserver and
// starts one child process per variant and run, so each measurement starts from a clean heap and the
// fake apiserver's own copies are not counted. A child syncs the two informers through the real
// Informer (watch-list stream, transform, Store), forces GC and reports heap and RSS growth.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { slimClaim, slimVolume } from '../src/external-provisioner/cache-transforms.js';
import { realisticPair } from '../src/external-provisioner/testing/realistic-objects.js';
import type { KubeObject } from '../src/shared/kube/cache.js';
import { createKubeClient } from '../src/shared/kube/client.js';
import { Informer } from '../src/shared/kube/informer.js';
import { FakeApiServer } from '../src/shared/kube/testing/fake-apiserver.js';

const VARIANTS = {
  none: { label: '(a) no transform', claims: identity, volumes: identity },
  strip: { label: '(b) managedFields stripped (default)', claims: undefined, volumes: undefined },
  slim: { label: '(c) slim transforms', claims: slimClaim, volumes: slimVolume },
} as const;
type Variant = keyof typeof VARIANTS;

/** Upstream's need, kubernetes-csi/external-provisioner#587: 400 Mi for 10K volumes. */
const UPSTREAM_KIB_PER_VOLUME = 40;

function identity<T>(obj: T): T {
  return obj;
}

interface Sample {
  variant: Variant;
  heapKiB: number;
  rssKiB: number;
  rssTotalMiB: number;
  syncMs: number;
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
}

async function measure(variant: Variant, url: string): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'fake-user', token: 'fake-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user' }],
    currentContext: 'fake',
  });
  // The limiter is off: this measures memory, and list pages would otherwise wait on it.
  const client = createKubeClient({ kubeConfig, qps: -1, burst: 0, userAgent: 'bench' });
  const v = VARIANTS[variant];
  const claims = new Informer<V1PersistentVolumeClaim & KubeObject>({
    transport: client,
    path: '/api/v1/persistentvolumeclaims',
    ...(v.claims && { transform: v.claims }),
  });
  const volumes = new Informer<V1PersistentVolume & KubeObject>({
    transport: client,
    path: '/api/v1/persistentvolumes',
    ...(v.volumes && { transform: v.volumes }),
  });
  // A warm-up request loads the HTTP stack before the baseline, so only the caches are counted.
  await fetch(`${url}/version`).then((r) => r.text());
  collectGarbage();
  const before = { heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss };
  const controller = new AbortController();
  const started = performance.now();
  claims.start(controller.signal);
  volumes.start(controller.signal);
  if (!(await claims.waitForSync(controller.signal)) || !(await volumes.waitForSync(controller.signal))) {
    throw new Error('informers did not sync');
  }
  const syncMs = performance.now() - started;
  collectGarbage();
  const after = process.memoryUsage();
  const pairs = Math.min(claims.list().length, volumes.list().length);
  const sample: Sample = {
    variant,
    heapKiB: (after.heapUsed - before.heap) / 1024 / pairs,
    rssKiB: (after.rss - before.rss) / 1024 / pairs,
    rssTotalMiB: after.rss / 1024 / 1024,
    syncMs,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
  controller.abort();
  process.exit(0);
}

function runChild(variant: Variant, url: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), 'measure', variant, url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`child ${variant} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Sample);
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function serve(count: number, runs: number): Promise<void> {
  const server = await FakeApiServer.start();
  server.route('GET', '/version', () => ({ status: 200, body: { gitVersion: 'v1.34.0-fake' } }));
  const claims = server.collection('/api/v1/persistentvolumeclaims');
  const volumes = server.collection('/api/v1/persistentvolumes');
  let pairJsonBytes = 0;
  for (let i = 0; i < count; i++) {
    const { claim, volume } = realisticPair(i);
    if (i === 0) pairJsonBytes = JSON.stringify(claim).length + JSON.stringify(volume).length;
    claims.create(claim);
    volumes.create(volume);
  }
  console.log(
    `${count} PV + ${count} PVC (${(pairJsonBytes / 1024).toFixed(2)} KiB of JSON per pair), node ${process.version}, ${runs} run(s) per variant`,
  );
  const results: Record<string, Sample[]> = {};
  for (let run = 0; run < runs; run++) {
    // Alternating the order keeps a warm page cache or CPU boost from favouring one variant.
    const order = (Object.keys(VARIANTS) as Variant[]).slice();
    if (run % 2) order.reverse();
    for (const variant of order) (results[variant] ??= []).push(await runChild(variant, server.url));
  }
  await server.close();
  console.log(
    'variant                                  heap KiB/vol  RSS KiB/vol  total heap MiB  process RSS MiB  sync s  vs upstream 40 KiB',
  );
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    const samples = results[variant] ?? [];
    const heap = median(samples.map((s) => s.heapKiB));
    const rss = median(samples.map((s) => s.rssKiB));
    const line = [
      VARIANTS[variant].label.padEnd(40),
      heap.toFixed(2).padStart(12),
      rss.toFixed(2).padStart(12),
      ((heap * count) / 1024).toFixed(1).padStart(15),
      median(samples.map((s) => s.rssTotalMiB))
        .toFixed(1)
        .padStart(16),
      (median(samples.map((s) => s.syncMs)) / 1000).toFixed(2).padStart(7),
      `${((Math.max(heap, rss) / UPSTREAM_KIB_PER_VOLUME) * 100).toFixed(1)} %`.padStart(19),
    ];
    console.log(line.join(' '));
  }
}

const [mode, arg1, arg2] = process.argv.slice(2);
if (mode === 'measure') {
  await measure(arg1 as Variant, arg2);
} else {
  await serve(Number(mode ?? 10_000), Number(arg1 ?? 1));
}
