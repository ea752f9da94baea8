import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { V1Lease } from '@kubernetes/client-node';
import { KubeApiError } from '../kube/errors.js';
import { discardLogger, Logger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import { FakeLeaseClient } from './fake-lease-client.js';
import type { LeaseCall, LeaseVerb } from './fake-lease-client.js';
import type { LeaseClient } from './lease-client.js';
import { LeaderElector } from './leader-elector.js';
import type { LeaderElectorOptions, StoppedLeading } from './leader-elector.js';

const NS = 'kube-system';
const NAME = 'hostpath-csi-k8s-io';
const START = 1_700_000_000_000;

/** Routes one elector's calls to the shared store, with a per-elector hook to fail or stall them. */
class ElectorClient implements LeaseClient {
  hook: ((verb: LeaseVerb) => void | Promise<void>) | undefined;
  private readonly store: FakeLeaseClient;

  constructor(store: FakeLeaseClient) {
    this.store = store;
  }

  async get(namespace: string, name: string, signal?: AbortSignal): Promise<V1Lease | undefined> {
    await this.hook?.('get');
    return this.store.get(namespace, name, signal);
  }

  async create(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    await this.hook?.('create');
    return this.store.create(namespace, lease, signal);
  }

  async replace(namespace: string, name: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    await this.hook?.('replace');
    return this.store.replace(namespace, name, lease, signal);
  }
}

interface Harness {
  elector: LeaderElector;
  client: ElectorClient;
  controller: AbortController;
  done: Promise<void>;
  leading: AbortSignal[];
  stopped: number;
  stops: StoppedLeading[];
  newLeaders: string[];
  events: string[];
}

const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) h.controller.abort();
});

function start(
  store: FakeLeaseClient,
  clock: FakeClock,
  identity: string,
  options: Partial<LeaderElectorOptions> = {},
  hook?: ElectorClient['hook'],
): Harness {
  const client = new ElectorClient(store);
  client.hook = hook;
  const controller = new AbortController();
  const harness: Harness = {
    client,
    controller,
    leading: [],
    stopped: 0,
    stops: [],
    newLeaders: [],
    events: [],
    elector: undefined as unknown as LeaderElector,
    done: Promise.resolve(),
  };
  harness.elector = new LeaderElector({
    leaseClient: client,
    namespace: NS,
    name: NAME,
    identity,
    clock,
    logger: discardLogger(),
    random: () => 0,
    onStartedLeading: (signal) => void harness.leading.push(signal),
    onStoppedLeading: (stopped) => {
      harness.stopped++;
      harness.stops.push(stopped);
    },
    onNewLeader: (leader) => void harness.newLeaders.push(leader),
    recordEvent: (lease, message) => void harness.events.push(`${lease.kind}/${lease.metadata?.name}: ${message}`),
    ...options,
  });
  harness.done = harness.elector.run(controller.signal);
  running.push(harness);
  return harness;
}

function isLeading(h: Harness): boolean {
  return h.leading.length > 0 && !h.leading[h.leading.length - 1].aborted;
}

function heldLease(holder: string, overrides: Partial<V1Lease['spec']> = {}): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: NAME, namespace: NS },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      acquireTime: '2023-11-14T22:00:00.000000Z' as unknown as Date,
      renewTime: '2023-11-14T22:13:20.000000Z' as unknown as Date,
      leaseTransitions: 3,
      ...overrides,
    },
  };
}

/** Rewrites the record as a live holder would, with a renewTime of its own (possibly skewed) clock. */
function renewAs(store: FakeLeaseClient, holder: string, renewTime: string): void {
  const current = store.read(NS, NAME);
  store.put(NS, {
    ...current,
    spec: { ...current?.spec, holderIdentity: holder, renewTime: renewTime as unknown as Date },
  });
}

async function metricValue(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  const data = await metric?.get();
  return data?.values[0]?.value;
}

describe('LeaderElector acquiring', () => {
  it('creates a missing Lease with leaseTransitions 0, labels and MicroTimes, then leads', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a', { labels: { team: 'storage', tier: 'csi' } });
    await clock.advance(0);

    expect(isLeading(a)).toBe(true);
    expect(a.elector.isLeader()).toBe(true);
    const lease = store.read(NS, NAME);
    expect(lease?.metadata?.labels).toEqual({ team: 'storage', tier: 'csi' });
    expect(lease?.spec).toEqual({
      holderIdentity: 'node-a',
      leaseDurationSeconds: 15,
      acquireTime: '2023-11-14T22:13:20.000000Z',
      renewTime: '2023-11-14T22:13:20.000000Z',
      leaseTransitions: 0,
    });
    expect(a.newLeaders).toEqual(['node-a']);
    expect(a.events).toEqual([`Lease/${NAME}: node-a became leader`]);
  });

  it('sends acquireTime and renewTime with six fractional digits on the wire', async () => {
    const clock = new FakeClock(START + 123);
    const store = new FakeLeaseClient();
    start(store, clock, 'node-a');
    await clock.advance(0);

    const create = store.calls.find((c) => c.verb === 'create');
    expect(create?.body).toContain('"acquireTime":"2023-11-14T22:13:20.123000Z"');
    expect(create?.body).toContain('"renewTime":"2023-11-14T22:13:20.123000Z"');
    await clock.advance(5_000);
    const renew = store.calls.filter((c) => c.verb === 'replace').at(-1);
    expect(renew?.body).toContain('"renewTime":"2023-11-14T22:13:25.123000Z"');
  });

  it('lets exactly one of two replicas lead while the leader keeps renewing', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a');
    const b = start(store, clock, 'node-b');
    await clock.advance(120_000);

    expect(isLeading(a)).toBe(true);
    expect(isLeading(b)).toBe(false);
    expect(b.elector.getLeader()).toBe('node-a');
    expect(b.newLeaders).toEqual(['node-a']);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-a');
  });

  it.each([
    ['far in the future', '2100-01-01T00:00:00.000000Z'],
    ['far in the past', '1971-01-01T00:00:00.000000Z'],
  ])(
    'takes over a silent holder only after leaseDuration of local observation, with renewTime %s',
    async (_label, renewTime) => {
      const clock = new FakeClock(START);
      const store = new FakeLeaseClient();
      store.put(NS, heldLease('node-a', { renewTime: renewTime as unknown as Date }));
      const b = start(store, clock, 'node-b');

      // First seen at t=0; attempts every 5 s; expired once 0 + 15 s < now, i.e. at the t=20 s attempt.
      await clock.advance(19_999);
      expect(isLeading(b)).toBe(false);
      expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-a');
      await clock.advance(1);
      expect(isLeading(b)).toBe(true);
      expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-b');
    },
  );

  it('never takes over a holder that keeps changing its record, even with a renewTime far in the past', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a'));
    const b = start(store, clock, 'node-b');
    for (let i = 1; i <= 12; i++) {
      await clock.advance(4_000);
      renewAs(store, 'node-a', `1971-01-01T00:00:${String(i).padStart(2, '0')}.000000Z`);
    }
    expect(isLeading(b)).toBe(false);
    expect(store.calls.filter((c) => c.verb === 'replace')).toEqual([]);
  });

  it('takes over an empty holderIdentity at once and counts the transition', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('', { leaseTransitions: 7 }));
    const b = start(store, clock, 'node-b');
    await clock.advance(0);

    expect(isLeading(b)).toBe(true);
    expect(store.read(NS, NAME)?.spec?.leaseTransitions).toBe(8);
  });

  it('does not lead when its PUT loses the race with a 409 conflict', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a'));
    const b = start(store, clock, 'node-b');
    b.client.hook = (verb) => {
      // node-a renews between node-b's GET and PUT.
      if (verb === 'replace') renewAs(store, 'node-a', '2023-11-14T22:13:40.000000Z');
    };
    await clock.advance(20_000);

    const lastPut = store.calls.filter((c) => c.verb === 'replace');
    expect(lastPut).toHaveLength(1);
    expect(isLeading(b)).toBe(false);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-a');
    // The conflict's winner was observed afresh, so no takeover before another full leaseDuration.
    b.client.hook = undefined;
    await clock.advance(14_999);
    expect(isLeading(b)).toBe(false);
  });

  it('retries after a failed GET and waits retryPeriod·(1 + rand·1.2) between attempts', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a'));
    const times: number[] = [];
    start(store, clock, 'node-b', { random: () => 1 }, (verb) => {
      times.push(clock.now() - START);
      if (verb === 'get' && times.length === 1) {
        throw new KubeApiError({
          code: 500,
          status: { reason: 'InternalError', message: 'etcd timeout' },
          context: 'GET lease',
        });
      }
    });
    await clock.advance(30_000);

    expect(times).toEqual([0, 11_000, 22_000]);
  });

  it('gives each acquire attempt renewDeadline, then aborts it and tries again', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease(''));
    store.intercept(() => (store.calls.length === 1 ? new Promise<void>(() => {}) : undefined));
    const b = start(store, clock, 'node-b');
    await clock.advance(9_999);
    const hung = store.calls[0];
    expect(hung.signal?.aborted).toBe(false);
    await clock.advance(1);
    expect(hung.signal?.reason).toMatchObject({ name: 'TimeoutError' });
    expect(isLeading(b)).toBe(false);

    // The next attempt comes retryPeriod later (jitter pinned to 0) and takes the free Lease.
    await clock.advance(4_999);
    expect(store.calls).toHaveLength(1);
    await clock.advance(1);
    expect(isLeading(b)).toBe(true);
  });

  it('resumes a Lease it already holds (restart with the same identity) without counting a transition', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a', { leaseTransitions: 3 }));
    const a = start(store, clock, 'node-a');
    await clock.advance(0);

    expect(isLeading(a)).toBe(true);
    expect(store.read(NS, NAME)?.spec).toMatchObject({
      holderIdentity: 'node-a',
      acquireTime: '2023-11-14T22:00:00.000000Z',
      renewTime: '2023-11-14T22:13:20.000000Z',
      leaseTransitions: 3,
    });
  });

  it('reports the new leader when the holder changes', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a'));
    const b = start(store, clock, 'node-b');
    await clock.advance(20_000);

    expect(b.newLeaders).toEqual(['node-a', 'node-b']);
  });
});

describe('LeaderElector renewing', () => {
  it('keeps acquireTime and leaseTransitions on renewal and bumps transitions only on takeover', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a', { leaseTransitions: 3 }));
    start(store, clock, 'node-b');
    await clock.advance(20_000);

    const acquired = store.read(NS, NAME)?.spec;
    expect(acquired?.leaseTransitions).toBe(4);
    expect(acquired?.acquireTime).toBe('2023-11-14T22:13:40.000000Z');
    await clock.advance(30_000);
    const renewed = store.read(NS, NAME)?.spec;
    expect(renewed?.leaseTransitions).toBe(4);
    expect(renewed?.acquireTime).toBe('2023-11-14T22:13:40.000000Z');
    expect(renewed?.renewTime).toBe('2023-11-14T22:14:10.000000Z');
  });

  it('renews with a single PUT on the fast path (no GET)', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    start(store, clock, 'node-a');
    await clock.advance(0);
    const before = store.calls.length;
    await clock.advance(15_000);

    expect(store.calls.slice(before).map((c) => c.verb)).toEqual(['replace', 'replace', 'replace']);
  });

  it('falls back to GET + PUT when the fast path fails and counts the slow path', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const registry = new Registry();
    const a = start(store, clock, 'node-a', { registry });
    await clock.advance(0);
    // Someone edits the Lease (labels only): the cached resourceVersion goes stale.
    const current = store.read(NS, NAME);
    store.put(NS, { ...current, metadata: { ...current?.metadata, labels: { edited: 'yes' } } });
    const before = store.calls.length;
    await clock.advance(5_000);

    expect(store.calls.slice(before).map((c) => c.verb)).toEqual(['replace', 'get', 'replace']);
    expect(isLeading(a)).toBe(true);
    expect(await metricValue(registry, 'leader_election_slowpath_total')).toBe(1);
    expect(store.read(NS, NAME)?.metadata?.labels).toEqual({ edited: 'yes' });
    expect(store.read(NS, NAME)?.spec).toMatchObject({
      acquireTime: '2023-11-14T22:13:20.000000Z',
      renewTime: '2023-11-14T22:13:25.000000Z',
      leaseTransitions: 0,
    });
  });

  it('preserves fields it does not own (preferredHolder, strategy, annotations, labels)', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const lease = heldLease('', { preferredHolder: 'node-c', strategy: 'OldestEmulationVersion' });
    lease.metadata = { ...lease.metadata, annotations: { note: 'keep' }, labels: { existing: 'x' } };
    store.put(NS, lease);
    start(store, clock, 'node-b', { labels: { added: 'y' } });
    await clock.advance(10_000);

    const stored = store.read(NS, NAME);
    expect(stored?.spec?.preferredHolder).toBe('node-c');
    expect(stored?.spec?.strategy).toBe('OldestEmulationVersion');
    expect(stored?.spec?.holderIdentity).toBe('node-b');
    expect(stored?.metadata?.annotations).toEqual({ note: 'keep' });
    expect(stored?.metadata?.labels).toEqual({ existing: 'x', added: 'y' });
  });

  it.each([
    ['fail', () => Promise.reject(new Error('connection refused'))],
    ['hang', () => new Promise<void>(() => {})],
  ])('loses leadership when renewals %s for renewDeadline', async (_label, failure) => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const registry = new Registry();
    const a = start(store, clock, 'node-a', { registry });
    await clock.advance(0);
    expect(await metricValue(registry, 'leader_election_master_status')).toBe(1);
    a.client.hook = failure;

    // Renewal at 5 s starts failing; its deadline is 5 s + 10 s.
    await clock.advance(14_999);
    expect(a.stopped).toBe(0);
    expect(isLeading(a)).toBe(true);
    await clock.advance(1);
    await a.done;
    expect(a.stops).toEqual([{ lost: true }]);
    expect(a.leading[0].aborted).toBe(true);
    expect(await metricValue(registry, 'leader_election_master_status')).toBe(0);
    expect(a.events).toEqual([`Lease/${NAME}: node-a became leader`, `Lease/${NAME}: node-a stopped leading`]);
  });

  it('aborts a renewal request still pending when renewDeadline passes', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a');
    await clock.advance(0);
    store.intercept(() => new Promise<void>(() => {}));
    await clock.advance(5_000);
    const renewal = store.calls.at(-1);
    expect(renewal?.verb).toBe('replace');

    await clock.advance(9_999);
    expect(renewal?.signal?.aborted).toBe(false);
    await clock.advance(1);
    await a.done;
    expect(renewal?.signal?.reason).toMatchObject({ name: 'TimeoutError' });
    expect(a.stops).toEqual([{ lost: true }]);
  });

  it('keeps leading when a renewal succeeds on a retry within renewDeadline', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a');
    await clock.advance(0);
    let failures = 0;
    a.client.hook = () => {
      if (failures++ < 2) throw new Error('connection reset');
    };
    await clock.advance(60_000);

    expect(a.stopped).toBe(0);
    expect(isLeading(a)).toBe(true);
  });

  it('loses leadership when another replica took the Lease', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a');
    await clock.advance(0);
    renewAs(store, 'node-z', '2023-11-14T22:13:21.000000Z');
    await clock.advance(15_000);

    expect(a.stops).toEqual([{ lost: true }]);
    expect(a.elector.isLeader()).toBe(false);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-z');
  });
});

describe('LeaderElector stopping', () => {
  it('releases the Lease on cancel when releaseOnCancel is set', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a', { releaseOnCancel: true });
    await clock.advance(7_000);
    a.controller.abort();
    await a.done;

    expect(a.stops).toEqual([{ lost: false }]);
    expect(a.leading[0].aborted).toBe(true);
    expect(store.read(NS, NAME)?.spec).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: '2023-11-14T22:13:27.000000Z',
      renewTime: '2023-11-14T22:13:27.000000Z',
      leaseTransitions: 0,
    });
  });

  it('aborts a renewal PUT hanging at cancel and then releases without a conflict', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const lines: string[] = [];
    const logger = new Logger({ verbosity: 0, sink: (line) => void lines.push(line) });
    const a = start(store, clock, 'node-a', { releaseOnCancel: true, logger });
    await clock.advance(0);
    store.intercept((call) => (call.verb === 'replace' ? new Promise<void>(() => {}) : undefined));
    await clock.advance(5_000);
    const renewal = store.calls.at(-1);
    expect(renewal?.verb).toBe('replace');
    store.intercept(undefined);
    a.controller.abort();
    await a.done;

    expect(renewal?.signal?.aborted).toBe(true);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('');
    expect(store.read(NS, NAME)?.spec?.renewTime).toBe('2023-11-14T22:13:25.000000Z');
    expect(lines.filter((l) => l.includes('Failed to release lock'))).toEqual([]);
    expect(a.stops).toEqual([{ lost: false }]);
  });

  it('releases over a fresh read when an abandoned renewal landed anyway (409 on the first release PUT)', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a', { releaseOnCancel: true });
    await clock.advance(0);
    store.intercept((call) => {
      if (call.verb !== 'replace') return;
      // The apiserver applies the renewal, but the response never arrives.
      store.intercept(undefined);
      renewAs(store, 'node-a', '2023-11-14T22:13:25.000000Z');
      return new Promise<void>(() => {});
    });
    await clock.advance(5_000);
    const before = store.calls.length;
    a.controller.abort();
    await a.done;

    expect(store.calls.slice(before).map((c) => c.verb)).toEqual(['replace', 'get', 'replace']);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('');
    expect(store.read(NS, NAME)?.spec?.leaseTransitions).toBe(0);
  });

  it('waits for an attempt that ignores the abort before releasing', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const gate = Promise.withResolvers<void>();
    const a = start(store, clock, 'node-a', { releaseOnCancel: true });
    await clock.advance(0);
    a.client.hook = (verb) => {
      if (verb !== 'replace') return;
      a.client.hook = undefined;
      return gate.promise;
    };
    await clock.advance(5_000);
    const before = store.calls.length;
    a.controller.abort();
    await clock.advance(1_000);
    expect(store.calls.length).toBe(before);
    expect(a.stopped).toBe(0);

    gate.resolve();
    await a.done;
    // The late renewal reaches the store with its signal aborted and is refused; the release goes through.
    const late: LeaseCall | undefined = store.calls[before];
    expect(late?.signal?.aborted).toBe(true);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('');
  });

  it('leaves the Lease held on cancel without releaseOnCancel', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a');
    await clock.advance(7_000);
    a.controller.abort();
    await a.done;

    expect(a.stops).toEqual([{ lost: false }]);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-a');
  });

  it('lets a waiting replica take a released Lease on its next attempt', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a', { releaseOnCancel: true });
    await clock.advance(0);
    const b = start(store, clock, 'node-b');
    await clock.advance(1_000);
    a.controller.abort();
    await a.done;
    await clock.advance(5_000);

    expect(isLeading(b)).toBe(true);
    expect(store.read(NS, NAME)?.spec?.leaseTransitions).toBe(1);
  });

  it('calls onStoppedLeading when cancelled before ever leading, like client-go', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-a'));
    const b = start(store, clock, 'node-b', { releaseOnCancel: true });
    await clock.advance(3_000);
    b.controller.abort();
    await b.done;

    expect(b.leading).toEqual([]);
    expect(b.stops).toEqual([{ lost: false }]);
    expect(store.read(NS, NAME)?.spec?.holderIdentity).toBe('node-a');
  });
});

describe('LeaderElector health check', () => {
  it('is healthy for a non-leader and for a leader that renews', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    store.put(NS, heldLease('node-z'));
    const b = start(store, clock, 'node-b');
    await clock.advance(100);
    expect(b.elector.healthCheck()).toEqual({ ok: true, message: 'ok' });
    const a = start(new FakeLeaseClient(), clock, 'node-a');
    await clock.advance(120_000);
    expect(a.elector.healthCheck().ok).toBe(true);
  });

  it('turns unhealthy when a leader has not renewed for leaseDuration + 20 s', async () => {
    const clock = new FakeClock(START);
    const store = new FakeLeaseClient();
    const a = start(store, clock, 'node-a', { onStoppedLeading: () => {} });
    await clock.advance(5_000);
    a.client.hook = () => new Promise<void>(() => {});

    // Last renewal at t=5 s; the check fails strictly after 5 + 15 + 20 s.
    await clock.advance(35_000);
    expect(a.elector.healthCheck().ok).toBe(true);
    await clock.advance(1);
    expect(a.elector.healthCheck()).toEqual({
      ok: false,
      message: `failed election to renew leadership on lease ${NS}/${NAME}`,
    });
  });
});

describe('LeaderElector configuration', () => {
  const base = {
    leaseClient: new FakeLeaseClient(),
    namespace: NS,
    name: NAME,
    identity: 'node-a',
    clock: new FakeClock(),
    logger: discardLogger(),
    onStartedLeading: () => {},
    onStoppedLeading: () => {},
  };

  it.each([
    [{ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }, /leaseDuration must be greater than renewDeadline/],
    [{ renewDeadlineMs: 6_000, retryPeriodMs: 5_000 }, /renewDeadline must be greater than retryPeriod\*JitterFactor/],
    [{ identity: '' }, /identity is empty/],
  ])('rejects %o', (overrides, error) => {
    expect(() => new LeaderElector({ ...base, ...overrides })).toThrow(error);
  });

  it('registers the status gauge at 0 with client-go help text and shares it between electors', async () => {
    const registry = new Registry();
    new LeaderElector({ ...base, registry });
    new LeaderElector({ ...base, registry, identity: 'node-b' });
    const text = await registry.metrics();

    expect(text).toContain(
      "# HELP leader_election_master_status [ALPHA] Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
    );
    expect(text).toContain('leader_election_master_status{name=""} 0');
    expect(text).toContain('# TYPE leader_election_slowpath_total counter');
  });

  it('refuses a second concurrent run', async () => {
    const clock = new FakeClock(START);
    const h = start(new FakeLeaseClient(), clock, 'node-a');
    await expect(h.elector.run(new AbortController().signal)).rejects.toThrow(/twice/);
  });
});
