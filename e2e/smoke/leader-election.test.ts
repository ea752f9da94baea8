import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { realClock } from '../../src/shared/clock/clock.js';
import { createKubeClient } from '../../src/shared/kube/client.js';
import type { KubeClient } from '../../src/shared/kube/client.js';
import { loadKubeConfig } from '../../src/shared/kube/kubeconfig.js';
import { LeaderElector } from '../../src/shared/leader-election/leader-elector.js';
import { coordinationLeaseClient } from '../../src/shared/leader-election/lease-client.js';
import { sanitizeLeaseName } from '../../src/shared/leader-election/lease-config.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';

const cluster = useTestCluster('leader-election', { controllerManager: false });
const clients: KubeClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.close();
});

const leaseDurationMs = 4_000;
const renewDeadlineMs = 3_000;
const retryPeriodMs = 1_000;

async function elector(identity: string, leading: Set<string>) {
  // Each replica runs as the attacher's ServiceAccount: the shipped Role must allow the Lease calls.
  const kubeconfig = await cluster().serviceAccountKubeconfig('csi-attacher.yaml');
  const client = createKubeClient({
    kubeConfig: loadKubeConfig({ kubeconfig }),
    qps: 5,
    burst: 10,
    userAgent: identity,
  });
  clients.push(client);
  const stop = new AbortController();
  const e = new LeaderElector({
    leaseClient: coordinationLeaseClient(client.api(CoordinationV1Api)),
    namespace: 'default',
    name: sanitizeLeaseName('external-attacher-leader-e2e.csi.k8s.io'),
    identity,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    clock: realClock,
    logger: discardLogger(),
    onStartedLeading: (signal) => {
      leading.add(identity);
      signal.addEventListener('abort', () => leading.delete(identity));
    },
    onStoppedLeading: () => leading.delete(identity),
  });
  const done = e.run(stop.signal);
  return { stop, done };
}

interface LeaseBody {
  metadata: { name: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

describe('leader election against a real kube-apiserver', () => {
  it('elects one leader, hands over within leaseDuration + retryPeriod, and writes client-go shaped Leases', async () => {
    const leading = new Set<string>();
    const a = await elector('replica-a', leading);
    await waitUntil('a leader', () => leading.size === 1, 20_000);
    const b = await elector('replica-b', leading);
    await new Promise((r) => setTimeout(r, 2 * retryPeriodMs));
    expect([...leading]).toEqual(['replica-a']);

    const path = '/apis/coordination.k8s.io/v1/namespaces/default/leases/external-attacher-leader-e2e-csi-k8s-io';
    const lease = (await cluster().admin.must('GET', path)) as LeaseBody;
    expect(Object.keys(lease.spec).sort()).toEqual([
      'acquireTime',
      'holderIdentity',
      'leaseDurationSeconds',
      'leaseTransitions',
      'renewTime',
    ]);
    expect(lease.spec).toMatchObject({ holderIdentity: 'replica-a', leaseDurationSeconds: 4, leaseTransitions: 0 });
    expect(String(lease.spec.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // The leader goes away without releasing (a crash): the other takes over once the Lease expires.
    const stoppedAt = Date.now();
    a.stop.abort();
    await a.done;
    await waitUntil('b leading', () => leading.has('replica-b'), 20_000);
    const takeoverMs = Date.now() - stoppedAt;
    // Expiry is judged on b's observation: leaseDuration after the last renewal b saw, plus b's jittered retry
    // period (up to 2.2×), plus request latency on a loaded machine.
    expect(takeoverMs).toBeLessThanOrEqual(leaseDurationMs + retryPeriodMs * 2.2 + 3_000);
    const after = (await cluster().admin.must('GET', path)) as LeaseBody;
    expect(after.spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });
    b.stop.abort();
    await b.done;
  });
});
