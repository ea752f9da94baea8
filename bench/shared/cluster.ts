import { readFileSync } from 'node:fs';
import { TestCluster } from '../../e2e/fixture/cluster.js';
import type { Endpoint } from './kube.js';
import { cpuSeconds, machineBusySeconds } from './proc.js';
import { round } from './stats.js';

/** The Kubernetes e2e mock CSI driver's name (GetPluginInfo); it is also its node ID. */
export const DRIVER = 'io.kubernetes.storage.mock';
/** KCM must not be the limit: it gets a budget far above the sidecar's. */
export const KCM_ARGS = ['--kube-api-qps=1000', '--kube-api-burst=1000'];

/** Starts a cluster for one scenario: KCM unthrottled, audit log on, the mock driver on a unix socket. */
export async function startCluster(options: { controllerManager: boolean }): Promise<TestCluster> {
  return TestCluster.start({
    controllerManager: options.controllerManager,
    controllerManagerArgs: KCM_ARGS,
    mockDriver: true,
    auditLog: true,
  });
}

export function endpointOf(cluster: TestCluster): Endpoint {
  return { server: cluster.server, ca: readFileSync(cluster.pki.caCert, 'utf8'), token: cluster.adminToken };
}

/**
 * CPU seconds so far of the sidecar under test (key `label`), each cluster component, 'bench' (this load generator
 * and observer) and 'machine' (every core's busy time, so other load on the box is visible next to the components').
 */
export function cpuMeter(cluster: TestCluster, label: string, pid: number): () => Record<string, number> {
  const components = {
    [label]: pid,
    'kube-apiserver': cluster.apiserver.pid,
    etcd: cluster.etcd.pid,
    'kube-controller-manager': cluster.controllerManager?.pid,
    mockdriver: cluster.driver?.pid,
  };
  return () => ({
    ...Object.fromEntries(
      Object.entries(components).map(([k, p]) => [k, p === undefined ? Number.NaN : cpuSeconds(p)]),
    ),
    bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    machine: machineBusySeconds(),
  });
}

/** Per-key difference b − a, rounded to 10 ms. */
export function cpuDiff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(a).map((k) => [k, round(b[k] - a[k], 2)]));
}
