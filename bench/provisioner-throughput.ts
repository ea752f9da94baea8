// Provisioning rate of the TS csi-provisioner against the real local control plane (etcd, kube-apiserver,
// kube-controller-manager and the Kubernetes e2e mock CSI driver from e2e/fixture/cluster.ts). Run through
// npm run bench:provisioner-throughput; see bench/provisioner-throughput.md for the method and its limits.
//
// Scenario S1 of performance-anchors.md: N PVCs of an Immediate-binding class created at once by an
// unthrottled admin client, timed from the first create to the last PVC seen Bound. The clock starts only
// after a canary PVC was provisioned end to end and the provisioner's token bucket had time to refill.
import { readFileSync } from 'node:fs';
import { TestCluster } from '../e2e/fixture/cluster.js';
import { bundleSidecar } from '../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../src/shared/testing/sidecar-process.js';

const DRIVER = 'io.kubernetes.storage.mock';
const NAMESPACE = 'bench';
const CLASS = 'bench-immediate';

interface Options {
  count: number;
  qps: number;
  burst: number;
  /** Creates in flight at once from the load generator. */
  concurrency: number;
  pollMs: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { count: 100, qps: 5, burst: 10, concurrency: 16, pollMs: 200 };
  for (const arg of argv) {
    const m = /^--(count|qps|burst|concurrency|poll-ms)=(\d+(?:\.\d+)?)$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg} (--count= --qps= --burst= --concurrency= --poll-ms=)`);
    const key = m[1] === 'poll-ms' ? 'pollMs' : (m[1] as Exclude<keyof Options, 'pollMs'>);
    opts[key] = Number(m[2]);
  }
  return opts;
}

interface ClaimList {
  items: { metadata: { name: string }; status?: { phase?: string } }[];
}

interface VolumeList {
  items: { spec?: { claimRef?: { namespace?: string; name?: string } } }[];
}

function claim(name: string): object {
  return {
    metadata: { name, namespace: NAMESPACE },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } }, storageClassName: CLASS },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const cluster = await TestCluster.start({ controllerManager: true, mockDriver: true });
  let provisioner: SidecarProcess | undefined;
  try {
    const admin = cluster.admin;
    await admin.must('POST', '/api/v1/namespaces', { metadata: { name: NAMESPACE } });
    await admin.must('POST', '/apis/storage.k8s.io/v1/storageclasses', {
      metadata: { name: CLASS },
      provisioner: DRIVER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
    });
    const kubeconfig = await cluster.serviceAccountKubeconfig('csi-provisioner.yaml');
    provisioner = new SidecarProcess(await bundleSidecar('csi-provisioner'), [
      `--csi-address=${cluster.driverSocket}`,
      `--kubeconfig=${kubeconfig}`,
      `--kube-api-qps=${opts.qps}`,
      `--kube-api-burst=${opts.burst}`,
      '--timeout=15s',
      '--leader-election=false',
      '-v=2',
    ]);
    await provisioner.waitForLog(/Caches synced, starting workers/, 60_000);

    const listClaims = async (): Promise<ClaimList> =>
      (await admin.must('GET', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`)) as ClaimList;
    const waitBound = async (names: Set<string>, onBound: (name: string) => void, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (names.size > 0) {
        if (performance.now() > deadline) throw new Error(`${names.size} PVCs not Bound after ${timeoutMs} ms`);
        for (const item of (await listClaims()).items) {
          if (item.status?.phase === 'Bound' && names.delete(item.metadata.name)) onBound(item.metadata.name);
        }
        if (names.size > 0) await new Promise((r) => setTimeout(r, opts.pollMs));
      }
    };

    // Canary: the whole path works before the clock starts; then the token bucket refills.
    await admin.must('POST', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`, claim('canary'));
    await waitBound(new Set(['canary']), () => undefined, 60_000);
    await new Promise((r) => setTimeout(r, ((opts.burst / opts.qps) * 1000) | 0));
    const rssBefore = provisioner.rssKiB();

    const names = Array.from({ length: opts.count }, (_, i) => `claim-${i}`);
    const createdAt = new Map<string, number>();
    const boundAt = new Map<string, number>();
    const started = performance.now();
    const pending = new Set(names);
    const waiting = waitBound(pending, (n) => boundAt.set(n, performance.now()), opts.count * 2_000 + 60_000);
    // PV creation is the provisioner's own stage; Bound also waits for KCM's binder (its own QPS 20 budget).
    const pvSeenAt = new Map<string, number>();
    let polling = true;
    const pvPoll = (async () => {
      while (polling) {
        const list = (await admin.must('GET', '/api/v1/persistentvolumes')) as VolumeList;
        for (const pv of list.items) {
          const ref = pv.spec?.claimRef;
          if (ref?.namespace === NAMESPACE && ref.name && !pvSeenAt.has(ref.name))
            pvSeenAt.set(ref.name, performance.now());
        }
        await new Promise((r) => setTimeout(r, opts.pollMs));
      }
    })();
    let next = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (next < names.length) {
          const name = names[next++];
          await admin.must('POST', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`, claim(name));
          createdAt.set(name, performance.now());
        }
      }),
    );
    const createdMs = performance.now() - started;
    await waiting;
    polling = false;
    await pvPoll;
    const totalMs = Math.max(...boundAt.values()) - started;
    const latencies = names.map((n) => (boundAt.get(n) ?? Number.NaN) - (createdAt.get(n) ?? Number.NaN));
    latencies.sort((a, b) => a - b);

    const provisionerCpu = cpuSeconds(provisioner.pid);
    const floorS = Math.max(0, opts.count - opts.burst) / opts.qps;
    const upstreamFloorS = Math.max(0, 3 * opts.count - opts.burst) / opts.qps;
    const result = {
      count: opts.count,
      qps: opts.qps,
      burst: opts.burst,
      createdInS: +(createdMs / 1000).toFixed(2),
      allBoundInS: +(totalMs / 1000).toFixed(2),
      volumesPerS: +(opts.count / (totalMs / 1000)).toFixed(2),
      allPvsCreatedInS: +((Math.max(...names.map((n) => pvSeenAt.get(n) ?? Number.NaN)) - started) / 1000).toFixed(2),
      latencyS: {
        p50: +(percentile(latencies, 50) / 1000).toFixed(2),
        p90: +(percentile(latencies, 90) / 1000).toFixed(2),
        p99: +(percentile(latencies, 99) / 1000).toFixed(2),
        max: +(latencies[latencies.length - 1] / 1000).toFixed(2),
      },
      // L2 budget floor with 1 main-budget write per PVC (the PV create), and upstream's with 3 (2 events).
      floorS: +floorS.toFixed(1),
      upstreamFloorS: +upstreamFloorS.toFixed(1),
      upstreamCeilingVolumesPerS: +(opts.count / upstreamFloorS).toFixed(2),
      provisionerRssMiB: {
        beforeBurst: +(rssBefore / 1024).toFixed(1),
        after: +(provisioner.rssKiB() / 1024).toFixed(1),
      },
      provisionerCpuS: provisionerCpu,
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await provisioner?.stop();
    await cluster.stop();
  }
}

/** User + system CPU seconds of a process, from /proc/<pid>/stat (clock ticks, 100 per second on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return +((Number(fields[11]) + Number(fields[12])) / 100).toFixed(2);
}

await main();
